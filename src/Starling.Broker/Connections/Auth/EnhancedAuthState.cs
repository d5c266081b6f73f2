using Starling.Broker.Security.EnhancedAuth;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>
/// Enhanced authentication of one connection; touched only by its read loop. Null on a connection without enhanced
/// authentication (nearly all of them): a CONNECT with a known Authentication Method creates it, so an idle connection
/// does not carry six empty fields (docs/performance.md, finding 2). Once set, it stays (re-authentication).
/// </summary>
internal sealed class EnhancedAuthState(string method, IEnhancedAuthenticator authenticator)
{
    /// <summary>The CONNECT's Authentication Method; every AUTH must name the same one.</summary>
    public string Method { get; } = method;

    public IEnhancedAuthenticator Authenticator { get; } = authenticator;

    /// <summary>The exchange in progress (before CONNACK, or a re-authentication); null between exchanges.</summary>
    public IEnhancedAuthSession? Exchange;

    /// <summary>
    /// The user the exchange in progress authenticates, for the failed-login limits: what the method last reported
    /// (<see cref="EnhancedAuthStep.Subject"/>), else the CONNECT's User Name, or the connection's user for a
    /// re-authentication. Null when none is known (then only the per-address limit applies).
    /// </summary>
    public string? Subject;

    /// <summary>The CONNECT waiting for its exchange to end (null after CONNACK), with its client id (assigned or not).</summary>
    public ConnectPacket? PendingConnect;
    public string PendingClientId = "";
    public string? PendingAssignedClientId;
}
