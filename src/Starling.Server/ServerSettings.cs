using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.EnvironmentVariables;
using Microsoft.Extensions.Configuration.Json;
using Starling.Broker;
using Starling.Protocol;

namespace Starling.Server;

/// <summary>One TCP listener: name for logs, address and port to bind.</summary>
public sealed record ListenerSettings(string Name, IPAddress Address, int Port)
{
    /// <summary>
    /// Kestrel's socket transport and connection handler instead of Starling's own transport for a plain TCP listener
    /// (<c>"Transport": "kestrel"</c>). Starling's transport holds about a third of the memory per idle connection; it
    /// needs Linux x64, and Kestrel is used wherever it is not available and for TLS listeners.
    /// </summary>
    public bool UseKestrel { get; init; }

    /// <summary>"127.0.0.1:1883" or "[::]:1883".</summary>
    public override string ToString() => new IPEndPoint(Address, Port).ToString();
}

/// <summary>Everything the host needs, read and checked from configuration.</summary>
internal sealed class ServerSettings
{
    public required IReadOnlyList<ListenerSettings> Listeners { get; init; }
    public required BrokerOptions Broker { get; init; }
    public Starling.Server.Security.SecuritySettings Security { get; init; } = new();
    public StorageSettings Storage { get; init; } = StorageSettings.Default;
    public Starling.Server.Management.OperationsSettings Operations { get; init; } = new();

    /// <summary>Limits:MaxOpenConnections was not configured: set it from the open-file limit (OpenFileLimit).</summary>
    public bool MaxOpenConnectionsFromFileLimit { get; init; }
}

/// <summary>
/// Builds the configuration (defaults, appsettings.json, -c file, STARLING_ environment variables, command line,
/// test overrides) and reads it into <see cref="ServerSettings"/>. Every mistake becomes a
/// <see cref="StarlingStartupException"/> that names the key, the value, where it came from and the fix.
/// </summary>
internal sealed partial class ServerConfiguration
{
    public const string EnvironmentPrefix = "STARLING_";
    public const int DefaultPort = 1883;

    private static readonly string[] s_limitKeys =
    [
        "MaxPacketSize", "MaxInflightMessages", "MaxQueuedMessages", "MaxQueuedBytes", "MaxConnections",
        "ConnectTimeoutSeconds", "MaxClientIdLength", "ReceiveMaximum", "TopicAliasMaximum", "MaxKeepAliveSeconds",
        "MaxSessionExpirySeconds",
    ];
    private static readonly string[] s_listenerKeys = ["Name", "Address", "Port", "Transport"];
    private static readonly string[] s_topLevelKeys =
        [
            "Listeners", "Limits", "AllowAnonymous", "AllowZeroLengthClientId", "QueueQoS0Messages", "MaximumQoS", "RetainAvailable",
            "ValidatePayloadFormat", "ResponseInformation", "ServerReference", "ServerMoved", "OutboundTopicAliases", "Logging", "$schema",
        ];

    /// <summary>Defaults that are not BrokerOptions defaults: log levels that keep the console quiet.</summary>
    private static readonly Dictionary<string, string?> s_defaults = new()
    {
        ["Logging:LogLevel:Default"] = "Information",
        ["Logging:LogLevel:Microsoft.AspNetCore"] = "Warning",
        ["Logging:LogLevel:Microsoft.Hosting.Lifetime"] = "Warning",
        ["Logging:LogLevel:Microsoft.Extensions.Hosting"] = "Warning",
        // "Hosting failed to start" with a stack trace: start-up failures are reported once, as a one-paragraph message.
        ["Logging:LogLevel:Microsoft.Extensions.Hosting.Internal.Host"] = "Critical",
    };

    private readonly ServerCommandLine _commandLine;
    private readonly List<string> _sourceNames = [];

    private ServerConfiguration(ServerCommandLine commandLine, IConfigurationRoot root)
    {
        _commandLine = commandLine;
        Root = root;
    }

    public IConfigurationRoot Root { get; }

    /// <summary>Builds the configuration; throws <see cref="StarlingStartupException"/> for a missing or unreadable file.</summary>
    public static ServerConfiguration Build(ServerCommandLine commandLine, IDictionary<string, string?>? overrides, string? baseDirectory = null)
    {
        var names = new List<string>();
        var builder = new ConfigurationBuilder();
        builder.AddInMemoryCollection(s_defaults);
        names.Add("the built-in defaults");

        var jsonFiles = new List<string>();
        var appSettings = Path.Combine(baseDirectory ?? AppContext.BaseDirectory, "appsettings.json");
        builder.AddJsonFile(appSettings, optional: true, reloadOnChange: false);
        names.Add(appSettings);
        jsonFiles.Add(appSettings);

        if (commandLine.ConfigFile is { } configFile)
        {
            var fullPath = Path.GetFullPath(configFile);
            if (Directory.Exists(fullPath))
            {
                throw new StarlingStartupException(
                    $"The configuration file given with -c, '{fullPath}', is a directory. Give the path of a JSON file, e.g. -c /etc/starling/starling.json.");
            }
            if (!File.Exists(fullPath))
            {
                throw new StarlingStartupException(
                    $"The configuration file given with -c, '{fullPath}', does not exist. Check the path, or start without -c to use the defaults (127.0.0.1:1883).");
            }
            builder.AddJsonFile(fullPath, optional: false, reloadOnChange: false);
            names.Add(fullPath);
            jsonFiles.Add(fullPath);
        }

        builder.AddEnvironmentVariables(EnvironmentPrefix);
        names.Add("environment");
        builder.AddInMemoryCollection(commandLine.Settings);
        names.Add("the command line");
        if (overrides is { Count: > 0 })
        {
            builder.AddInMemoryCollection(overrides);
            names.Add("the configuration overrides");
        }

        IConfigurationRoot root;
        try
        {
            root = builder.Build();
        }
        catch (Exception ex) when (ex is InvalidDataException or FormatException or IOException or UnauthorizedAccessException)
        {
            throw JsonFileError(ex, jsonFiles);
        }

        var configuration = new ServerConfiguration(commandLine, root);
        configuration._sourceNames.AddRange(names);
        configuration.CheckUnknownKeys();
        return configuration;
    }

    private static StarlingStartupException JsonFileError(Exception ex, List<string> jsonFiles)
    {
        var file = jsonFiles.LastOrDefault(f => ex.Message.Contains(f, StringComparison.Ordinal)) ?? jsonFiles[^1];
        for (var inner = ex; inner is not null; inner = inner.InnerException)
        {
            if (inner is JsonException json)
            {
                var line = json.LineNumber is { } l ? (l + 1).ToString(CultureInfo.InvariantCulture) : "?";
                var column = json.BytePositionInLine is { } c ? (c + 1).ToString(CultureInfo.InvariantCulture) : "?";
                return new StarlingStartupException(
                    $"The configuration file '{file}' is not valid JSON: line {line}, column {column}: {TrimJsonMessage(json.Message)} Fix the file and start again.",
                    ex);
            }
            if (inner is UnauthorizedAccessException or IOException && inner != ex)
            {
                return new StarlingStartupException($"The configuration file '{file}' cannot be read: {inner.Message}", ex);
            }
        }
        var detail = ex.InnerException?.Message ?? ex.Message;
        return new StarlingStartupException($"The configuration file '{file}' cannot be used: {detail} Fix the file and start again.", ex);
    }

    private static string TrimJsonMessage(string message)
    {
        foreach (var marker in new[] { " Path: ", " LineNumber: " })
        {
            var at = message.IndexOf(marker, StringComparison.Ordinal);
            if (at > 0)
            {
                message = message[..at];
            }
        }
        message = message.Trim();
        return message.EndsWith('.') ? message : message + ".";
    }

    /// <summary>Typos in a file or on the command line are errors; unknown STARLING_ environment variables are ignored.</summary>
    private void CheckUnknownKeys()
    {
        for (var i = 0; i < Root.Providers.Count(); i++)
        {
            var provider = Root.Providers.ElementAt(i);
            if (provider is EnvironmentVariablesConfigurationProvider || i == 0)
            {
                continue;
            }
            foreach (var key in LeafKeys(provider, null))
            {
                if (!IsKnownKey(key))
                {
                    throw new StarlingStartupException(
                        $"Unknown setting '{key}' in {_sourceNames[i]}. Known settings are Listeners:N:Name/Address/Port, " +
                        $"Limits:{string.Join('/', s_limitKeys)}, {string.Join(", ", s_topLevelKeys.Where(k => k is not ("Listeners" or "Limits" or "$schema")))}; " +
                        "check the spelling (run 'starling-server --help' for the list).");
                }
            }
        }
    }

    private static IEnumerable<string> LeafKeys(IConfigurationProvider provider, string? parent)
    {
        foreach (var child in provider.GetChildKeys([], parent).Distinct(StringComparer.OrdinalIgnoreCase))
        {
            var path = parent is null ? child : parent + ":" + child;
            var any = false;
            foreach (var leaf in LeafKeys(provider, path))
            {
                any = true;
                yield return leaf;
            }
            if (!any)
            {
                yield return path;
            }
        }
    }

    private static bool IsKnownKey(string key)
    {
        var parts = key.Split(':');
        if (IsKnownSecurityKey(parts) || IsKnownStorageKey(parts) || IsKnownOperationsKey(parts))
        {
            return true;
        }
        if (!s_topLevelKeys.Contains(parts[0], StringComparer.OrdinalIgnoreCase))
        {
            return false;
        }
        return parts[0].ToUpperInvariant() switch
        {
            "LIMITS" => parts.Length == 2 && s_limitKeys.Contains(parts[1], StringComparer.OrdinalIgnoreCase),
            "LISTENERS" => parts.Length == 3 && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out _)
                && s_listenerKeys.Contains(parts[2], StringComparer.OrdinalIgnoreCase),
            "LOGGING" => true,
            _ => parts.Length == 1,
        };
    }

    /// <summary>Reads and checks every setting; throws <see cref="StarlingStartupException"/> naming the first bad one.</summary>
    public ServerSettings Read()
    {
        var broker = new BrokerOptions();
        broker.MaxPacketSize = ReadInt("Limits:MaxPacketSize", broker.MaxPacketSize);
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

        ReadSecurityLimits(broker);
        try
        {
            broker.Validate();
        }
        catch (ArgumentException ex)
        {
            throw FromBrokerValidation(ex);
        }

        var listeners = ReadListeners();
        return new ServerSettings { Listeners = listeners, Broker = broker, Security = ReadSecurity(broker, listeners), Storage = ReadStorage(),
            Operations = ReadOperations(), MaxOpenConnectionsFromFileLimit = !_maxOpenConnectionsConfigured };
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

    private int ReadInt(string key, int fallback)
    {
        var value = Root[key];
        if (value is null)
        {
            return fallback;
        }
        return int.TryParse(value.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var result)
            ? result
            : throw Bad(key, "must be a whole number");
    }

    private long ReadLong(string key, long fallback)
    {
        var value = Root[key];
        if (value is null)
        {
            return fallback;
        }
        return long.TryParse(value.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var result)
            ? result
            : throw Bad(key, "must be a whole number");
    }

    private double ReadDouble(string key, double fallback)
    {
        var value = Root[key];
        if (value is null)
        {
            return fallback;
        }
        return double.TryParse(value.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var result)
            ? result
            : throw Bad(key, "must be a number of seconds, e.g. 10");
    }

    private string? ReadString(string key, string? fallback) => Root[key] is { Length: > 0 } value ? value : fallback;

    private bool ReadBool(string key, bool fallback)
    {
        var value = Root[key];
        if (value is null)
        {
            return fallback;
        }
        return bool.TryParse(value.Trim(), out var result) ? result : throw Bad(key, "must be true or false");
    }

    /// <summary>"Limits:MaxPacketSize = -5 in /etc/starling.json: must be between 16 and 268435460 bytes."</summary>
    private StarlingStartupException Bad(string key, string expectation)
    {
        var value = Root[key];
        var shown = value is null ? "(not set)" : value.Length == 0 ? "\"\"" : value;
        return new StarlingStartupException($"Invalid configuration: {key} = {shown} {Origin(key)}: {expectation}. Correct the value and start again.");
    }

    /// <summary>Where the value of <paramref name="key"/> comes from, for messages: "in /etc/starling.json", "from environment variable ...".</summary>
    private string Origin(string key)
    {
        var providers = Root.Providers.ToList();
        for (var i = providers.Count - 1; i >= 0; i--)
        {
            if (!providers[i].TryGet(key, out _))
            {
                continue;
            }
            var name = _sourceNames[i];
            return providers[i] switch
            {
                EnvironmentVariablesConfigurationProvider => $"from environment variable {EnvironmentPrefix}{key.Replace(":", "__", StringComparison.Ordinal)}",
                JsonConfigurationProvider => $"in {name}",
                _ when name == "the command line" => _commandLine.OptionForKey.TryGetValue(key, out var option)
                    ? $"from the command line ({option})"
                    : "from the command line",
                _ => $"from {name}",
            };
        }
        return "(default)";
    }
}
