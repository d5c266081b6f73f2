using System.Globalization;
using System.Text;

namespace Starling.Server;

/// <summary>
/// The server's command line, Mosquitto style. Options become configuration keys (an in-memory source added after the
/// environment variables), so the command line wins over every file.
/// </summary>
internal sealed class ServerCommandLine
{
    private ServerCommandLine() { }

    public bool Help { get; private set; }
    public bool Version { get; private set; }
    public bool Verbose { get; private set; }

    /// <summary>The file given with -c/--config, as typed.</summary>
    public string? ConfigFile { get; private set; }

    /// <summary>Configuration keys set by options (e.g. -p sets Listeners:0:Port).</summary>
    public Dictionary<string, string?> Settings { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>For error messages: which option set which configuration key.</summary>
    public Dictionary<string, string> OptionForKey { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Parses the arguments; throws <see cref="StarlingStartupException"/> (exit code 2) for an unknown or incomplete option.</summary>
    public static ServerCommandLine Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var result = new ServerCommandLine();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string name = arg;
            string? inlineValue = null;
            if (arg.StartsWith("--", StringComparison.Ordinal) && arg.IndexOf('=', StringComparison.Ordinal) is var eq and > 2)
            {
                name = arg[..eq];
                inlineValue = arg[(eq + 1)..];
            }

            switch (name)
            {
                case "-h" or "-?" or "--help":
                    result.Help = true;
                    break;
                case "--version":
                    result.Version = true;
                    break;
                case "-v" or "--verbose":
                    result.Verbose = true;
                    result.Settings["Logging:LogLevel:Default"] = "Debug";
                    result.Settings["Logging:LogLevel:Starling"] = "Debug";
                    break;
                case "-p" or "--port":
                    result.Set("Listeners:0:Port", name, TakeValue(args, ref i, name, inlineValue, "PORT"));
                    break;
                case "--bind":
                    result.Set("Listeners:0:Address", name, TakeValue(args, ref i, name, inlineValue, "ADDRESS"));
                    break;
                case "--data-dir":
                    result.Set("Storage:DataDirectory", name, TakeValue(args, ref i, name, inlineValue, "DIR"));
                    break;
                case "--log-format":
                    result.Set("Logging:Format", name, TakeValue(args, ref i, name, inlineValue, "text|json"));
                    break;
                case "--management-port":
                    result.Set("Management:Port", name, TakeValue(args, ref i, name, inlineValue, "PORT"));
                    break;
                case "--ws-port":
                    result.Set("WebSockets:Port", name, TakeValue(args, ref i, name, inlineValue, "PORT"));
                    break;
                case "--memory":
                    result.Set("Storage:Mode", name, "memory");
                    break;
                case "-c" or "--config":
                    result.ConfigFile = TakeValue(args, ref i, name, inlineValue, "FILE");
                    break;
                default:
                    throw new StarlingStartupException(arg.StartsWith('-')
                        ? $"Unknown option '{name}'. Run 'starling-server --help' for the list of options."
                        : $"Unexpected argument '{arg}': starling-server takes options only. Run 'starling-server --help' for the list of options.");
            }
        }
        return result;
    }

    private void Set(string key, string option, string value)
    {
        Settings[key] = value;
        OptionForKey[key] = option;
    }

    private static string TakeValue(IReadOnlyList<string> args, ref int i, string name, string? inlineValue, string placeholder)
    {
        if (inlineValue is not null)
        {
            return inlineValue;
        }
        if (i + 1 >= args.Count || (args[i + 1].StartsWith('-') && args[i + 1].Length > 1))
        {
            throw new StarlingStartupException($"Option '{name}' needs a value: {name} {placeholder}. Run 'starling-server --help' for the list of options.");
        }
        i++;
        return args[i];
    }

    public static string HelpText()
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"starling-server {VersionText()}: an MQTT 3.1, 3.1.1 and 5.0 broker.");
        text.AppendLine("""

            Usage: starling-server [options]

            With no options it listens on 127.0.0.1:1883 only and allows anonymous clients.

            Options:
              -p, --port PORT       port of the first listener (default 1883; 0 picks a free port)
                  --bind ADDRESS    address of the first listener: an IP such as 0.0.0.0 (all IPv4),
                                    :: (all IPv4 and IPv6), 127.0.0.1, or localhost (default 127.0.0.1)
              -c, --config FILE     JSON configuration file (see below)
                  --data-dir DIR    directory of the durable store (default ./data)
                  --memory          keep nothing on disk: sessions, queued and retained
                                    messages do not survive a restart
                  --management-port PORT
                                    turn on the management API, dashboard and /metrics on PORT
                                    (127.0.0.1 unless Management:Address says otherwise)
                  --ws-port PORT    turn on MQTT over WebSockets on PORT (path /mqtt)
                  --log-format FMT  text (default) or json (one JSON object per line)
              -v, --verbose         debug logging
              -h, --help            show this help and exit
                  --version         show the version and exit

            Configuration, later sources winning: appsettings.json next to the program (optional),
            the file given with -c, environment variables STARLING_<Key> with ':' written as '__'
            (e.g. STARLING_Limits__MaxConnections=100), then the options above.

            Configuration keys (defaults in brackets):
              Listeners:N:Name              listener name used in logs [tcp]
              Listeners:N:Address           IP address to listen on, or localhost [127.0.0.1]
              Listeners:N:Port              TCP port, 0 for any free port [1883 for the first listener]
              Listeners:N:Transport         auto (Starling's own on Linux x64, else Kestrel), starling or kestrel [auto]
              Limits:MaxPacketSize          largest inbound packet in bytes, 16..268435460 [16777216]
              Limits:MaxInflightMessages    unacknowledged outbound QoS 1/2 messages per session, 1..65535 [20]
              Limits:MaxQueuedMessages      QoS 1/2 messages queued per session behind them [1000]
              Limits:MaxQueuedBytes         payload bytes queued per session, 0 = no limit [33554432]
              Limits:MaxConnections         connections at once, 0 = no limit [0]
              Limits:MaxOpenConnections     sockets open at once, before CONNECT too [ulimit -n less what is in use
                                            and a reserve]
              Limits:ConnectTimeoutSeconds  time a new connection has to send CONNECT [10]
              Limits:MaxClientIdLength      longest client id accepted, 23..65535 [65535]
              Limits:ReceiveMaximum         inbound QoS 1/2 publishes a v5 client may have unacknowledged [1024]
              Limits:TopicAliasMaximum      topic aliases a v5 client may use, 0 disables them [10]
              Limits:MaxKeepAliveSeconds    largest keep-alive accepted, 0 = any [0]
              Limits:MaxSessionExpirySeconds  session expiry cap; 4294967295 = never [604800, 7 days]
              Limits:MaxRetainedMessages    retained topics held, 0 = no limit [100000]
              Limits:MaxRetainedBytes       bytes of all retained topics and payloads, 0 = no limit [268435456]
              Limits:MaxSessions            sessions (connected and persistent), 0 = no limit [100000]
              Limits:MaxPersistentSessionsPerAddress  persistent sessions anonymous clients of one
                                            address (IPv6: one /64) may create, 0 = no limit [1000]
              Limits:MaxPersistentSessionsPerUser  persistent sessions of one username or
                                            certificate identity, 0 = no limit [0]
              Limits:MaxSubscriptionBytesPerClient  bytes of one session's topic filters, 0 = no limit [1048576]
              Limits:QueueFullPolicy        DropNewest, DropOldest or RejectPublish (v5 0x97) [DropNewest]
              Limits:LimitLogIntervalSeconds  at most one log line per state limit per interval [10]
              AllowAnonymous                allow clients without a username [true]
              AllowZeroLengthClientId       accept an empty client id and assign one [true]
              QueueQoS0Messages             queue QoS 0 messages for offline persistent sessions [false]
              MaximumQoS                    highest QoS granted and accepted, 0..2 [2]
              RetainAvailable               whether retained messages are supported [true]
              Storage:Mode                  sqlite (durable) or memory [sqlite]
              Storage:DataDirectory         directory of the SQLite store, relative to the current directory [./data]
              Storage:Durability            process (survives a crash of the process) or power (also power loss,
                                            fsync per commit, slower) [process]
              Storage:MaxDatabaseSize       bytes of the SQLite file, 0 = no limit; QoS 1/2 and retained publishes are
                                            refused near it (v5: 0x97) [1073741824]
              Storage:MaxWriteQueueOperations  store operations waiting for a commit before publishers are paused [100000]
              Storage:MaxWriteQueueBytes    their estimated bytes before publishers are paused [67108864]
              ValidatePayloadFormat         check v5 payloads marked UTF-8; invalid ones get 0x99 [true]
              ResponseInformation           v5 Response Information for clients asking, {clientid} replaced [none]
              ServerReference               redirect every client to this server (v5: CONNACK 0x9C) [none]
              ServerMoved                   with ServerReference: the move is permanent (0x9D) [false]
              OutboundTopicAliases          assign topic aliases to v5 clients that accept them [false]
              WebSockets:Enabled            MQTT over WebSockets listener [false; true when WebSockets:Port is set]
              WebSockets:Address            its address [127.0.0.1]
              WebSockets:Port               its port, 0 for any free port [8083]
              WebSockets:Path               URL path of the WebSocket endpoint [/mqtt]
              WebSockets:Tls:CertFile/KeyFile/CaFile/ClientCertificate  wss:// (as Listeners:N:Tls:*) [none]
              Management:Enabled            management API, dashboard, /metrics, /health [false; true when
                                            Management:Port is set]
              Management:Address            its address [127.0.0.1]
              Management:Port               its port, 0 for any free port [8080]
              Management:ApiKeys            API keys (a list, or one comma-separated string) [a random key
                                            per run, printed once to standard error, never logged]
              Management:Dashboard          serve the web dashboard at / [true]
              SysInterval                   seconds between $SYS/broker/... publications, 0 = off [10]
              Metrics:Prometheus            serve /metrics on the management port [true]
              Metrics:RequireApiKey         /metrics needs an API key like /api [false]
              Metrics:Otlp:Endpoint         OpenTelemetry collector URL for OTLP export [none]
              Metrics:Otlp:Protocol         grpc or http/protobuf [grpc]
              Metrics:Otlp:IntervalSeconds  seconds between two exports [15]
              Metrics:Otlp:Headers          extra headers, "k1=v1,k2=v2" [none]
              Logging:Format                text or json [text]
              Logging:LogLevel:Default      Trace, Debug, Information, Warning, Error, Critical, None [Information]
              Logging:LogLevel:<Category>   level of one log category, e.g. Logging:LogLevel:Starling

            Exit codes: 0 after a clean shutdown (SIGTERM, Ctrl+C), 1 on a fatal error,
            2 on a bad option, a bad configuration or a port that cannot be bound.
            """);
        return text.ToString();
    }

    public static string VersionText()
    {
        var version = typeof(ServerCommandLine).Assembly
            .GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>()
            .FirstOrDefault()?.InformationalVersion ?? "0.0.0";
        var plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus > 0 ? version[..plus] : version;
    }
}
