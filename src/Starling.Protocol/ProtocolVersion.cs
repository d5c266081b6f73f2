namespace Starling.Protocol;

/// <summary>The protocol level byte of CONNECT: 3 = MQTT 3.1 ("MQIsdp"), 4 = 3.1.1, 5 = 5.0.</summary>
public enum ProtocolVersion : byte
{
    /// <summary>Not known yet (before CONNECT has been read).</summary>
    Unknown = 0,
    V310 = 3,
    V311 = 4,
    V500 = 5,
}
