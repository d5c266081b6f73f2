using System.Numerics;
using System.Globalization;
using Microsoft.Extensions.Configuration.EnvironmentVariables;
using Microsoft.Extensions.Configuration.Json;

namespace Starling.Server;

/// <summary>Typed reads of single keys, and messages that name a bad key, its value and where it came from.</summary>
internal sealed partial class ServerConfiguration
{
    private int ReadInt(string key, int fallback) => ReadWhole(key, fallback);

    private long ReadLong(string key, long fallback) => ReadWhole(key, fallback);

    /// <summary>A whole number of any width: the key's value, <paramref name="fallback"/> when absent, an error naming the key when not a number.</summary>
    private T ReadWhole<T>(string key, T fallback) where T : IBinaryInteger<T>
    {
        var value = Root[key];
        if (value is null)
        {
            return fallback;
        }
        return T.TryParse(value.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var result)
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
