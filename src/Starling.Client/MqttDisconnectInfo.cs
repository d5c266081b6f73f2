using Starling.Protocol;

namespace Starling.Client;

/// <summary>Why a client's connection ended.</summary>
public enum MqttDisconnectSource
{
    /// <summary>This client disconnected (DisconnectAsync or DisposeAsync).</summary>
    Client,

    /// <summary>The server sent DISCONNECT, refused the CONNECT, or closed the connection.</summary>
    Server,

    /// <summary>An I/O error, a protocol error in what the server sent, or a keep-alive timeout.</summary>
    Error,
}

/// <summary>How and why the connection ended; the result of <see cref="MqttClient.Disconnected"/>.</summary>
/// <param name="Source">Who ended it.</param>
/// <param name="ReasonCode">The DISCONNECT (or refusing CONNACK) reason code when there was one.</param>
/// <param name="ReasonString">The server's v5 Reason String, when sent.</param>
/// <param name="Exception">The I/O or protocol error, when there was one.</param>
/// <param name="Description">One line for people: "server sent DISCONNECT: server shutting down (0x8B)".</param>
public sealed record MqttDisconnectInfo(MqttDisconnectSource Source, ReasonCode? ReasonCode, string? ReasonString, Exception? Exception, string Description)
{
    public override string ToString() => Description;
}
