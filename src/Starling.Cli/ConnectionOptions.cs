using System.CommandLine;
using System.Globalization;
using System.Text;
using Starling.Client;
using Starling.Protocol;

namespace Starling.Cli;

/// <summary>
/// The connection options pub and sub share, named as in mosquitto_pub/mosquitto_sub, and what they turn into:
/// <see cref="MqttClientOptions"/>, the -D properties, the -d trace.
/// </summary>
internal sealed class ConnectionOptions
{
    public Option<string> Host { get; } = new("--host", "-h") { Description = "Server host name or IP address.", DefaultValueFactory = _ => "localhost", HelpName = "HOST" };
    public Option<int> Port { get; } = new("--port", "-p") { Description = "Server TCP port.", DefaultValueFactory = _ => 1883, HelpName = "PORT" };
    public Option<string?> ClientId { get; } = new("--id", "-i") { Description = "Client id (default: a random one).", HelpName = "ID" };
    public Option<string?> Username { get; } = new("--username", "-u") { Description = "User name.", HelpName = "USER" };
    public Option<string?> Password { get; } = new("--pw", "-P") { Description = "Password.", HelpName = "PASSWORD" };
    public Option<string> Version { get; } = new("--protocol-version", "-V")
    {
        Description = "MQTT version: 31, 311 or 5 (also mqttv31, mqttv311, mqttv5).",
        DefaultValueFactory = _ => "311",
        HelpName = "VERSION",
    };
    public Option<int> KeepAlive { get; } = new("--keepalive", "-k") { Description = "Keep-alive in seconds, 0 for none.", DefaultValueFactory = _ => 60, HelpName = "SECONDS" };
    public Option<bool> NoCleanSession { get; } = new("--disable-clean-session", "-c")
    {
        Description = "Persistent session: clean session (3.1.1) or clean start (5) off; needs -i. For v5 the session never expires unless -x says otherwise.",
    };
    public Option<string?> SessionExpiry { get; } = new("--session-expiry", "-x")
    {
        Description = "v5 session expiry interval in seconds; -1 or 4294967295 for never (default: never with -c, else 0).",
        HelpName = "SECONDS",
    };
    public Option<bool> Debug { get; } = new("--debug", "-d") { Description = "Print every packet sent and received (to stderr)." };
    public Option<string?> WillTopic { get; } = new("--will-topic") { Description = "Topic of the will message.", HelpName = "TOPIC" };
    public Option<string?> WillPayload { get; } = new("--will-payload") { Description = "Payload of the will message.", HelpName = "PAYLOAD" };
    public Option<int> WillQoS { get; } = new("--will-qos") { Description = "QoS of the will message.", DefaultValueFactory = _ => 0, HelpName = "QOS" };
    public Option<bool> WillRetain { get; } = new("--will-retain") { Description = "Retain the will message." };
    public Option<string[]> Properties { get; } = new("--property", "-D")
    {
        Description = "v5 property: COMMAND PROPERTY VALUE, e.g. -D publish user-property key value, -D connect receive-maximum 10. " +
            "Commands: connect, publish, subscribe, unsubscribe, disconnect, will.",
        AllowMultipleArgumentsPerToken = true,
        Arity = new ArgumentArity(3, 100_000),
        HelpName = "COMMAND PROPERTY VALUE",
    };

    public Option<string?> CaFile { get; } = new("--cafile") { Description = "PEM file of the CA that signed the broker's certificate; turns TLS on.", HelpName = "FILE" };
    public Option<string?> CertFile { get; } = new("--cert") { Description = "PEM client certificate (with --key), for brokers that require one.", HelpName = "FILE" };
    public Option<string?> KeyFile { get; } = new("--key") { Description = "PEM private key of --cert.", HelpName = "FILE" };
    public Option<bool> Insecure { get; } = new("--insecure") { Description = "Do not check that the broker's certificate names the host." };
    public Option<string?> TlsVersion { get; } = new("--tls-version") { Description = "tlsv1.3 or tlsv1.2 (default: either).", HelpName = "VERSION" };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[]
        {
            Host, Port, ClientId, Username, Password, Version, KeepAlive, NoCleanSession, SessionExpiry, Debug,
            WillTopic, WillPayload, WillQoS, WillRetain, Properties, CaFile, CertFile, KeyFile, Insecure, TlsVersion,
        })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>TLS is on with --cafile or --cert (as in mosquitto_pub); the other TLS options need one of them.</summary>
    private MqttClientTlsOptions? ReadTls(ParseResult parse)
    {
        var ca = parse.GetValue(CaFile);
        var cert = parse.GetValue(CertFile);
        var key = parse.GetValue(KeyFile);
        var version = parse.GetValue(TlsVersion);
        if (ca is null && cert is null)
        {
            if (key is not null || version is not null || parse.GetValue(Insecure))
            {
                throw new FormatException("--key, --insecure and --tls-version need TLS: add --cafile FILE (or --cert FILE).");
            }
            return null;
        }
        if ((cert is null) != (key is null))
        {
            throw new FormatException("--cert and --key go together.");
        }
        foreach (var file in new[] { ca, cert, key })
        {
            if (file is not null && !File.Exists(file))
            {
                throw new FormatException($"TLS file '{file}' does not exist.");
            }
        }
        return new MqttClientTlsOptions
        {
            CaFile = ca,
            CertFile = cert,
            KeyFile = key,
            Insecure = parse.GetValue(Insecure),
            Protocols = version switch
            {
                null => System.Security.Authentication.SslProtocols.None,
                "tlsv1.3" => System.Security.Authentication.SslProtocols.Tls13,
                "tlsv1.2" => System.Security.Authentication.SslProtocols.Tls12,
                _ => throw new FormatException($"--tls-version: '{version}' is not tlsv1.3 or tlsv1.2."),
            },
        };
    }

    /// <summary>Reads the options; throws <see cref="FormatException"/> with a message for the user when one is wrong.</summary>
    public (MqttClientOptions Options, PropertyArguments Properties) Read(ParseResult parse, string role)
    {
        var version = ParseVersion(parse.GetValue(Version) ?? "311");
        var properties = PropertyArguments.Parse(parse.GetValue(Properties) ?? []);
        if (!properties.IsEmpty && version != ProtocolVersion.V500)
        {
            throw new FormatException("-D properties need MQTT 5: add -V 5.");
        }
        var port = parse.GetValue(Port);
        if (port is < 1 or > 65535)
        {
            throw new FormatException($"-p: port {port} is not between 1 and 65535.");
        }
        var keepAlive = parse.GetValue(KeepAlive);
        if (keepAlive is < 0 or > 65535)
        {
            throw new FormatException($"-k: keep-alive {keepAlive} is not between 0 and 65535 seconds.");
        }
        var persistent = parse.GetValue(NoCleanSession);
        var clientId = parse.GetValue(ClientId);
        if (persistent && string.IsNullOrEmpty(clientId))
        {
            throw new FormatException("-c (persistent session) needs a client id: add -i ID.");
        }
        clientId ??= $"starling-{role}-{Random.Shared.Next():x8}";
        if (version == ProtocolVersion.V310 && clientId.Length is 0 or > 23)
        {
            throw new FormatException("MQTT 3.1 needs a client id of 1 to 23 characters.");
        }

        var options = new MqttClientOptions
        {
            Host = parse.GetValue(Host) ?? "localhost",
            Port = port,
            ClientId = clientId,
            ProtocolVersion = version,
            CleanSession = !persistent,
            KeepAliveSeconds = (ushort)keepAlive,
            Username = parse.GetValue(Username),
            Password = parse.GetValue(Password) is { } password ? Encoding.UTF8.GetBytes(password) : null,
            ConnectProperties = properties.For("connect"),
        };
        options.Tls = ReadTls(parse);
        if (options.Password is not null && options.Username is null && version != ProtocolVersion.V500)
        {
            throw new FormatException("-P needs -u: MQTT 3.1.1 allows a password only with a user name.");
        }

        if (version == ProtocolVersion.V500)
        {
            var expiry = parse.GetValue(SessionExpiry);
            options.SessionExpiryInterval = expiry is null
                ? (persistent ? uint.MaxValue : null)
                : expiry is "-1" or "∞" ? uint.MaxValue
                : uint.TryParse(expiry, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) ? seconds
                : throw new FormatException($"-x: '{expiry}' is not a number of seconds (or -1 for never).");
        }
        else if (parse.GetValue(SessionExpiry) is not null)
        {
            throw new FormatException("-x (session expiry) needs MQTT 5: add -V 5.");
        }

        if (parse.GetValue(WillTopic) is { } willTopic)
        {
            if (!TopicValidator.IsValidTopicName(willTopic))
            {
                throw new FormatException($"--will-topic: '{willTopic}' is not a valid topic name (no '+' or '#').");
            }
            options.Will = new WillMessage
            {
                Topic = willTopic,
                Payload = Encoding.UTF8.GetBytes(parse.GetValue(WillPayload) ?? ""),
                QoS = ParseQoS(parse.GetValue(WillQoS), "--will-qos"),
                Retain = parse.GetValue(WillRetain),
                Properties = properties.For("will"),
            };
        }
        else if (parse.GetValue(WillPayload) is not null || parse.GetValue(WillRetain))
        {
            throw new FormatException("--will-payload and --will-retain need --will-topic.");
        }

        if (parse.GetValue(Debug))
        {
            var id = options.ClientId;
            options.PacketTrace = (packet, outbound) => Console.Error.WriteLine($"Client {id} {(outbound ? "sending" : "received")} {Describe(packet)}");
        }
        return (options, properties);
    }

    public static ProtocolVersion ParseVersion(string text) => text.ToLowerInvariant() switch
    {
        "31" or "3.1" or "mqttv31" => ProtocolVersion.V310,
        "311" or "3.1.1" or "mqttv311" or "4" => ProtocolVersion.V311,
        "5" or "5.0" or "mqttv5" or "mqttv50" => ProtocolVersion.V500,
        _ => throw new FormatException($"-V: unknown protocol version '{text}'; use 31, 311 or 5."),
    };

    public static QualityOfService ParseQoS(int qos, string option)
        => qos is >= 0 and <= 2 ? (QualityOfService)qos : throw new FormatException($"{option}: QoS {qos} is not 0, 1 or 2.");

    /// <summary>
    /// Connects; on failure prints why ("Connection refused: not authorised (0x87)") and returns null. The caller exits 1.
    /// </summary>
    public static async Task<MqttClient?> ConnectAsync(MqttClientOptions options, CancellationToken cancellationToken)
    {
        var client = new MqttClient();
        try
        {
            var connAck = await client.ConnectAsync(options, cancellationToken);
            if (ReasonCodes.IsError(connAck.ReasonCode))
            {
                var reason = connAck.Properties?.ReasonString is { } text ? $" \"{text}\"" : "";
                await Console.Error.WriteLineAsync($"Connection refused: {ReasonCodes.Format(connAck.ReasonCode)}{reason}");
                await client.DisposeAsync();
                return null;
            }
            return client;
        }
        catch (MqttClientException ex)
        {
            await Console.Error.WriteLineAsync($"Error: {ex.Message}");
            await client.DisposeAsync();
            return null;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    /// <summary>One line per packet, mosquitto style: "PUBLISH (d0, q1, r0, m3, 'a/b', ... (5 bytes))".</summary>
    private static string Describe(MqttPacket packet) => packet switch
    {
        ConnectPacket p => $"CONNECT (v{(int)p.ProtocolVersion}, c{(p.CleanSession ? 1 : 0)}, k{p.KeepAliveSeconds}, id '{p.ClientId}'" +
            (p.Username is null ? "" : $", u '{p.Username}'") + (p.Will is null ? "" : $", will '{p.Will.Topic}'") + ")",
        ConnAckPacket p => $"CONNACK (s{(p.SessionPresent ? 1 : 0)}, {ReasonCodes.Format(p.ReasonCode)})",
        PublishPacket p => $"PUBLISH (d{(p.Dup ? 1 : 0)}, q{(int)p.QoS}, r{(p.Retain ? 1 : 0)}, m{p.PacketId}, '{p.Topic}', ... ({p.Payload.Length} bytes))",
        PubAckPacket p => $"{p.Type.ToString().ToUpperInvariant()} (m{p.PacketId}, {ReasonCodes.Format(p.ReasonCode)})",
        SubscribePacket p => $"SUBSCRIBE (m{p.PacketId}, {string.Join(", ", p.Subscriptions.Select(s => $"'{s.TopicFilter}' q{(int)s.Options.QoS}"))})",
        SubAckPacket p => $"SUBACK (m{p.PacketId}, {string.Join(", ", p.ReasonCodes.Select(c => ReasonCodes.Format(c, PacketType.SubAck)))})",
        UnsubscribePacket p => $"UNSUBSCRIBE (m{p.PacketId}, {string.Join(", ", p.TopicFilters.Select(f => $"'{f}'"))})",
        UnsubAckPacket p => $"UNSUBACK (m{p.PacketId})",
        DisconnectPacket p => $"DISCONNECT ({ReasonCodes.Format(p.ReasonCode, PacketType.Disconnect)})",
        _ => packet.Type.ToString().ToUpperInvariant(),
    };
}
