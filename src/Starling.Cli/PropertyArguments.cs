using System.Globalization;
using System.Text;
using Starling.Protocol;

namespace Starling.Cli;

/// <summary>
/// The mosquitto-style <c>-D COMMAND PROPERTY VALUE</c> option (MQTT 5 properties), e.g.
/// <c>-D publish user-property key value</c>, <c>-D connect session-expiry-interval 60</c>.
/// </summary>
internal sealed class PropertyArguments
{
    private static readonly string[] s_commands = ["connect", "publish", "subscribe", "unsubscribe", "disconnect", "will"];

    /// <summary>Which command each property may be given for (MQTT 5 table 2-4, as far as a client sends it).</summary>
    private static readonly Dictionary<string, string[]> s_allowed = new(StringComparer.OrdinalIgnoreCase)
    {
        ["payload-format-indicator"] = ["publish", "will"],
        ["message-expiry-interval"] = ["publish", "will"],
        ["content-type"] = ["publish", "will"],
        ["response-topic"] = ["publish", "will"],
        ["correlation-data"] = ["publish", "will"],
        ["subscription-identifier"] = ["subscribe"],
        ["session-expiry-interval"] = ["connect", "disconnect"],
        ["authentication-method"] = ["connect"],
        ["authentication-data"] = ["connect"],
        ["request-problem-information"] = ["connect"],
        ["will-delay-interval"] = ["will"],
        ["request-response-information"] = ["connect"],
        ["receive-maximum"] = ["connect"],
        ["topic-alias-maximum"] = ["connect"],
        ["topic-alias"] = ["publish"],
        ["maximum-packet-size"] = ["connect"],
        ["reason-string"] = ["disconnect"],
        ["user-property"] = ["connect", "publish", "subscribe", "unsubscribe", "disconnect", "will"],
    };

    private readonly Dictionary<string, MqttProperties> _byCommand = new(StringComparer.OrdinalIgnoreCase);

    public bool IsEmpty => _byCommand.Count == 0;

    /// <summary>The properties given for <paramref name="command"/>, or null.</summary>
    public MqttProperties? For(string command) => _byCommand.GetValueOrDefault(command);

    /// <summary>Parses the tokens of every -D occurrence, in order: COMMAND PROPERTY VALUE [VALUE for user-property].</summary>
    public static PropertyArguments Parse(IReadOnlyList<string> tokens)
    {
        var result = new PropertyArguments();
        var i = 0;
        while (i < tokens.Count)
        {
            if (i + 2 >= tokens.Count)
            {
                throw new FormatException($"-D needs COMMAND PROPERTY VALUE, e.g. -D publish content-type text/plain (got '{string.Join(' ', tokens.Skip(i))}').");
            }
            var command = tokens[i].ToLowerInvariant();
            var name = tokens[i + 1].ToLowerInvariant();
            if (!s_commands.Contains(command))
            {
                throw new FormatException($"-D: unknown command '{tokens[i]}'; use one of {string.Join(", ", s_commands)}.");
            }
            if (!s_allowed.TryGetValue(name, out var commands))
            {
                throw new FormatException($"-D: unknown property '{tokens[i + 1]}'; known properties: {string.Join(", ", s_allowed.Keys)}.");
            }
            if (!commands.Contains(command))
            {
                throw new FormatException($"-D: property '{name}' is not allowed for {command}; it is allowed for {string.Join(", ", commands)}.");
            }
            var properties = result._byCommand.TryGetValue(command, out var existing) ? existing : result._byCommand[command] = new MqttProperties();
            if (name == "user-property")
            {
                if (i + 3 >= tokens.Count)
                {
                    throw new FormatException("-D: user-property needs a name and a value, e.g. -D publish user-property key value.");
                }
                (properties.UserProperties ??= []).Add(new UserProperty(tokens[i + 2], tokens[i + 3]));
                i += 4;
                continue;
            }
            Set(properties, name, tokens[i + 2]);
            i += 3;
        }
        return result;
    }

    private static void Set(MqttProperties p, string name, string value)
    {
        switch (name)
        {
            case "payload-format-indicator": p.PayloadFormatIndicator = Byte(name, value, 1); break;
            case "message-expiry-interval": p.MessageExpiryInterval = UInt(name, value); break;
            case "content-type": p.ContentType = value; break;
            case "response-topic": p.ResponseTopic = value; break;
            case "correlation-data": p.CorrelationData = Encoding.UTF8.GetBytes(value); break;
            case "subscription-identifier":
                var id = UInt(name, value);
                if (id is 0 or > 268_435_455)
                {
                    throw new FormatException("-D: subscription-identifier must be between 1 and 268435455.");
                }
                p.SubscriptionIdentifiers = [id];
                break;
            case "session-expiry-interval": p.SessionExpiryInterval = UInt(name, value); break;
            case "authentication-method": p.AuthenticationMethod = value; break;
            case "authentication-data": p.AuthenticationData = Encoding.UTF8.GetBytes(value); break;
            case "request-problem-information": p.RequestProblemInformation = Byte(name, value, 1); break;
            case "will-delay-interval": p.WillDelayInterval = UInt(name, value); break;
            case "request-response-information": p.RequestResponseInformation = Byte(name, value, 1); break;
            case "receive-maximum": p.ReceiveMaximum = UShort(name, value, 1); break;
            case "topic-alias-maximum": p.TopicAliasMaximum = UShort(name, value, 0); break;
            case "topic-alias": p.TopicAlias = UShort(name, value, 1); break;
            case "maximum-packet-size": p.MaximumPacketSize = UInt(name, value) is var max and > 0 ? max : throw new FormatException("-D: maximum-packet-size must be above 0."); break;
            case "reason-string": p.ReasonString = value; break;
            default: throw new FormatException($"-D: unknown property '{name}'.");
        }
    }

    private static uint UInt(string name, string value)
        => uint.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : throw new FormatException($"-D: {name} must be a whole number from 0 to 4294967295, not '{value}'.");

    private static ushort UShort(string name, string value, ushort min)
        => ushort.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v >= min ? v : throw new FormatException($"-D: {name} must be a whole number from {min} to 65535, not '{value}'.");

    private static byte Byte(string name, string value, byte max)
        => byte.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v <= max ? v : throw new FormatException($"-D: {name} must be 0 to {max}, not '{value}'.");
}
