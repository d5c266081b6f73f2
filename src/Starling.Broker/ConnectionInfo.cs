using System.Net;

namespace Starling.Broker;

/// <summary>What the transport knows about one connection, handed to the broker with its pipe.</summary>
/// <param name="ConnectionId">Transport-assigned id, for logs.</param>
/// <param name="RemoteEndPoint">Peer address, when known.</param>
/// <param name="LocalEndPoint">Local address, when known.</param>
/// <param name="ListenerName">Name of the listener (e.g. "tcp", "ws"), for logs and metrics.</param>
public sealed record ConnectionInfo(string ConnectionId, EndPoint? RemoteEndPoint, EndPoint? LocalEndPoint, string ListenerName);
