using Starling.Protocol;

namespace Starling.Client;

/// <summary>An application message the server delivered to this client; the payload is this message's own copy.</summary>
/// <param name="Topic">Topic name (a v5 topic alias is already resolved).</param>
/// <param name="Payload">The payload bytes.</param>
/// <param name="QoS">QoS of this delivery.</param>
/// <param name="Retain">Retain flag: a retained message sent at subscribe time (or retain-as-published).</param>
/// <param name="Dup">DUP flag: the server may have sent this message before.</param>
/// <param name="Properties">v5 properties (content type, response topic, user properties, subscription ids...), else null.</param>
public sealed record ReceivedMessage(string Topic, byte[] Payload, QualityOfService QoS, bool Retain, bool Dup, MqttProperties? Properties);
