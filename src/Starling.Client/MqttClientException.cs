using Starling.Protocol;

namespace Starling.Client;

/// <summary>The client cannot do what was asked: not connected, connection lost, timeout, or a refusal by the server.</summary>
public sealed class MqttClientException : Exception
{
    public MqttClientException() : this("MQTT client error") { }

    public MqttClientException(string message) : base(message) { }

    public MqttClientException(string message, Exception? innerException) : base(message, innerException) { }

    public MqttClientException(string message, ReasonCode reasonCode, Exception? innerException = null) : base(message, innerException)
        => ReasonCode = reasonCode;

    /// <summary>The reason code involved, when there is one.</summary>
    public ReasonCode? ReasonCode { get; }
}
