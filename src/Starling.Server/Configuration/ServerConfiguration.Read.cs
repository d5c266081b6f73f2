using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Starling.Broker;
using Starling.Protocol;

namespace Starling.Server;

/// <summary>Reading the core settings (limits, broker switches, listeners) into <see cref="ServerSettings"/>.</summary>
internal sealed partial class ServerConfiguration
{
    /// <summary>Reads and checks every setting; throws <see cref="StarlingStartupException"/> naming the first bad one.</summary>
    public ServerSettings Read()
    {
        var broker = new BrokerOptions();
        broker.MaxPacketSize = ReadInt("Limits:MaxPacketSize", broker.MaxPacketSize);
        broker.MaxConnectPacketSize = ReadInt("Limits:MaxConnectPacketSize", broker.MaxConnectPacketSize);
        broker.MaxInflightMessages = ReadInt("Limits:MaxInflightMessages", broker.MaxInflightMessages);
        broker.MaxQueuedMessages = ReadInt("Limits:MaxQueuedMessages", broker.MaxQueuedMessages);
        broker.MaxQueuedBytes = ReadLong("Limits:MaxQueuedBytes", broker.MaxQueuedBytes);
        broker.MaxConnections = ReadInt("Limits:MaxConnections", broker.MaxConnections);
        var connectTimeout = ReadDouble("Limits:ConnectTimeoutSeconds", broker.ConnectTimeout.TotalSeconds);
        if (!(connectTimeout > 0 && connectTimeout <= 3600))
        {
            throw Bad("Limits:ConnectTimeoutSeconds", "must be a number of seconds above 0 and at most 3600, e.g. 10");
        }
        broker.ConnectTimeout = TimeSpan.FromSeconds(connectTimeout);
        broker.MaxClientIdLength = ReadInt("Limits:MaxClientIdLength", broker.MaxClientIdLength);
        broker.AllowAnonymous = ReadBool("AllowAnonymous", broker.AllowAnonymous);
        broker.AllowZeroLengthClientId = ReadBool("AllowZeroLengthClientId", broker.AllowZeroLengthClientId);
        broker.QueueQoS0Messages = ReadBool("QueueQoS0Messages", broker.QueueQoS0Messages);
        broker.RetainAvailable = ReadBool("RetainAvailable", broker.RetainAvailable);
        var maximumQoS = ReadInt("MaximumQoS", (int)broker.MaximumQoS);
        if (maximumQoS is < 0 or > 2)
        {
            throw Bad("MaximumQoS", "must be 0, 1 or 2");
        }
        broker.MaximumQoS = (QualityOfService)maximumQoS;
        broker.ReceiveMaximum = ReadInt("Limits:ReceiveMaximum", broker.ReceiveMaximum);
        broker.TopicAliasMaximum = ReadInt("Limits:TopicAliasMaximum", broker.TopicAliasMaximum);
        broker.MaxKeepAliveSeconds = ReadInt("Limits:MaxKeepAliveSeconds", broker.MaxKeepAliveSeconds);
        var sessionExpiry = ReadLong("Limits:MaxSessionExpirySeconds", broker.MaxSessionExpiryInterval);
        if (sessionExpiry is < 0 or > uint.MaxValue)
        {
            throw Bad("Limits:MaxSessionExpirySeconds", $"must be between 0 and {uint.MaxValue} (which means never expire)");
        }
        broker.MaxSessionExpiryInterval = (uint)sessionExpiry;
        broker.ValidatePayloadFormat = ReadBool("ValidatePayloadFormat", broker.ValidatePayloadFormat);
        broker.ResponseInformation = ReadString("ResponseInformation", broker.ResponseInformation);
        broker.ServerReference = ReadString("ServerReference", broker.ServerReference);
        broker.ServerMoved = ReadBool("ServerMoved", broker.ServerMoved);
        broker.OutboundTopicAliases = ReadBool("OutboundTopicAliases", broker.OutboundTopicAliases);

        ReadStateLimits(broker);
        ReadSecurityLimits(broker);
        ReadStorageLimits(broker);
        try
        {
            broker.Validate();
        }
        catch (ArgumentException ex)
        {
            throw FromBrokerValidation(ex);
        }

        var listeners = ReadListeners();
        return new ServerSettings
        {
            Listeners = listeners,
            Broker = broker,
            Security = ReadSecurity(broker, listeners),
            Storage = ReadStorage(),
            Operations = ReadOperations(),
            MaxOpenConnectionsFromFileLimit = !_maxOpenConnectionsConfigured,
            MaxHttpConnections = ReadMaxHttpConnections(),
        };
    }

    /// <summary>Limits:MaxHttpConnections: null when not configured (SocketBudget derives it), 0 for no limit of its own.</summary>
    private int? ReadMaxHttpConnections()
    {
        if (Root["Limits:MaxHttpConnections"] is null)
        {
            return null;
        }
        var value = ReadInt("Limits:MaxHttpConnections", 0);
        return value >= 0 ? value : throw Bad("Limits:MaxHttpConnections", "must be 0 (no limit of its own) or a number of sockets, e.g. 64");
    }

    /// <summary>The broker-state limits (retained, sessions, subscription bytes, queue-full policy; docs/security.md "Limits").</summary>
    private void ReadStateLimits(BrokerOptions broker)
    {
        broker.MaxRetainedMessages = ReadInt("Limits:MaxRetainedMessages", broker.MaxRetainedMessages);
        broker.MaxRetainedBytes = ReadLong("Limits:MaxRetainedBytes", broker.MaxRetainedBytes);
        broker.MaxSessions = ReadInt("Limits:MaxSessions", broker.MaxSessions);
        broker.MaxPersistentSessionsPerAddress = ReadInt("Limits:MaxPersistentSessionsPerAddress", broker.MaxPersistentSessionsPerAddress);
        broker.MaxPersistentSessionsPerUser = ReadInt("Limits:MaxPersistentSessionsPerUser", broker.MaxPersistentSessionsPerUser);
        broker.MaxSubscriptionBytesPerClient = ReadLong("Limits:MaxSubscriptionBytesPerClient", broker.MaxSubscriptionBytesPerClient);
        broker.MaxUserPropertyBytes = ReadInt("Limits:MaxUserPropertyBytes", broker.MaxUserPropertyBytes);
        if (ReadString("Limits:QueueFullPolicy", null) is { } policy)
        {
            broker.QueueFullPolicy = policy.Trim() switch
            {
                var p when p.Equals("DropNewest", StringComparison.OrdinalIgnoreCase) => QueueFullPolicy.DropNewest,
                var p when p.Equals("DropOldest", StringComparison.OrdinalIgnoreCase) => QueueFullPolicy.DropOldest,
                var p when p.Equals("RejectPublish", StringComparison.OrdinalIgnoreCase) => QueueFullPolicy.RejectPublish,
                _ => throw Bad("Limits:QueueFullPolicy", "must be DropNewest (the default), DropOldest or RejectPublish"),
            };
        }
        var interval = ReadDouble("Limits:LimitLogIntervalSeconds", broker.LimitLogInterval.TotalSeconds);
        if (!(interval >= 0 && interval <= 86_400))
        {
            throw Bad("Limits:LimitLogIntervalSeconds", "must be a number of seconds between 0 and 86400, e.g. 10");
        }
        broker.LimitLogInterval = TimeSpan.FromSeconds(interval);
    }

    private List<ListenerSettings> ReadListeners()
    {
        var indexes = Root.GetSection("Listeners").GetChildren().Select(c => c.Key).ToList();
        if (indexes.Count == 0)
        {
            indexes.Add("0");
        }
        var listeners = new List<ListenerSettings>();
        for (var n = 0; n < indexes.Count; n++)
        {
            var index = indexes[n];
            if (!int.TryParse(index, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                throw new StarlingStartupException(
                    $"'Listeners' in {Origin("Listeners:" + index)} must be a JSON array of listeners such as [ {{ \"Name\": \"tcp\", \"Address\": \"127.0.0.1\", \"Port\": 1883 }} ].");
            }
            var prefix = $"Listeners:{index}:";
            var name = Root[prefix + "Name"] is { Length: > 0 } given ? given : (n == 0 ? "tcp" : $"tcp{n}");
            var address = ParseAddress(prefix + "Address", Root[prefix + "Address"]);
            var port = ReadInt(prefix + "Port", n == 0 ? DefaultPort : -1);
            if (port == -1 && Root[prefix + "Port"] is null)
            {
                throw new StarlingStartupException(
                    $"Listener '{name}' ({prefix.TrimEnd(':')} {Origin(prefix + "Name")}) has no Port. Add \"Port\": followed by a TCP port such as 1884.");
            }
            if (port is < 0 or > 65535)
            {
                throw Bad(prefix + "Port", "must be a TCP port between 1 and 65535, or 0 to pick a free port");
            }
            if (listeners.Find(l => string.Equals(l.Name, name, StringComparison.OrdinalIgnoreCase)) is not null)
            {
                throw Bad(prefix + "Name", "must be unique: another listener already has this name");
            }
            var transport = Root[prefix + "Transport"]?.Trim();
            if (transport is not (null or "" or "auto" or "kestrel" or "starling"))
            {
                throw Bad(prefix + "Transport", "must be \"auto\" (Starling's own transport where it runs, Linux x64; else Kestrel), \"starling\" or \"kestrel\"");
            }
            if (transport == "starling" && !Transport.ReadinessPoller.IsSupported)
            {
                throw Bad(prefix + "Transport", "\"starling\" needs Linux on x64; use \"auto\" or \"kestrel\" here");
            }
            var listener = new ListenerSettings(name, address, port) { UseKestrel = transport == "kestrel" || !Transport.ReadinessPoller.IsSupported };
            if (port != 0 && listeners.Find(l => l.Port == port && (l.Address.Equals(address) || IsAny(l.Address) || IsAny(address))) is { } clash)
            {
                throw new StarlingStartupException(
                    $"Listeners '{clash.Name}' ({clash}) and '{name}' ({listener}) would both listen on port {port}. Give one of them another Port.");
            }
            listeners.Add(listener);
        }
        return listeners;
    }

    private static bool IsAny(IPAddress address) => address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);

    private IPAddress ParseAddress(string key, string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return IPAddress.Loopback;
        }
        value = value.Trim();
        if (value.Equals("localhost", StringComparison.OrdinalIgnoreCase))
        {
            return IPAddress.Loopback;
        }
        if (value is "*")
        {
            return Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any;
        }
        var literal = value.StartsWith('[') && value.EndsWith(']') ? value[1..^1] : value;
        if (IPAddress.TryParse(literal, out var address))
        {
            return address;
        }
        try
        {
            var addresses = Dns.GetHostAddresses(value);
            if (addresses.Length > 0)
            {
                return Array.Find(addresses, a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses[0];
            }
        }
        catch (SocketException)
        {
        }
        throw Bad(key, "must be an IP address of this machine (0.0.0.0 for all IPv4 interfaces, :: for all IPv4 and IPv6 interfaces, 127.0.0.1 for local clients only) or localhost");
    }

    private StarlingStartupException FromBrokerValidation(ArgumentException ex)
    {
        var key = ex.ParamName switch
        {
            nameof(BrokerOptions.ConnectTimeout) => "Limits:ConnectTimeoutSeconds",
            nameof(BrokerOptions.MaxSessionExpiryInterval) => "Limits:MaxSessionExpirySeconds",
            nameof(BrokerOptions.StoreMaxQueuedOperations) => "Storage:MaxWriteQueueOperations",
            nameof(BrokerOptions.StoreMaxQueuedBytes) => "Storage:MaxWriteQueueBytes",
            nameof(BrokerOptions.LimitLogInterval) => "Limits:LimitLogIntervalSeconds",
            nameof(BrokerOptions.AllowAnonymous) or nameof(BrokerOptions.AllowZeroLengthClientId) or nameof(BrokerOptions.QueueQoS0Messages)
                or nameof(BrokerOptions.MaximumQoS) or nameof(BrokerOptions.RetainAvailable) or nameof(BrokerOptions.ValidatePayloadFormat)
                or nameof(BrokerOptions.ResponseInformation) or nameof(BrokerOptions.ServerReference) or nameof(BrokerOptions.ServerMoved)
                or nameof(BrokerOptions.OutboundTopicAliases) => ex.ParamName,
            { } name => "Limits:" + name,
            null => null,
        };
        const string Marker = "it must be ";
        var at = ex.Message.IndexOf(Marker, StringComparison.Ordinal);
        var expectation = at >= 0 ? "must be " + ex.Message[(at + Marker.Length)..].TrimEnd('.', ' ') : null;
        // The ArgumentException message ends with " (Parameter 'X')": keep only the sentence.
        if (expectation is not null && expectation.IndexOf(" (Parameter", StringComparison.Ordinal) is var p and > 0)
        {
            expectation = expectation[..p].TrimEnd('.', ' ');
        }
        if (key is null || expectation is null)
        {
            return new StarlingStartupException($"Invalid broker configuration: {ex.Message}", ex);
        }
        return Bad(key, expectation);
    }
}
