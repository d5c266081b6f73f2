using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.EnvironmentVariables;

namespace Starling.Server;

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
        "MaxPacketSize", "MaxConnectPacketSize", "MaxInflightMessages", "MaxQueuedMessages", "MaxQueuedBytes", "MaxConnections",
        "ConnectTimeoutSeconds", "MaxClientIdLength", "ReceiveMaximum", "TopicAliasMaximum", "MaxKeepAliveSeconds",
        "MaxSessionExpirySeconds",
        // Broker-state limits (issue 16, findings 3 and 20).
        "MaxRetainedMessages", "MaxRetainedBytes", "MaxSessions", "MaxSubscriptionBytesPerClient", "QueueFullPolicy", "LimitLogIntervalSeconds",
        "MaxUserPropertyBytes", "MaxPersistentSessionsPerAddress", "MaxPersistentSessionsPerUser",
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
}
