using System.Net;
using Starling.Broker.Security;

namespace Starling.Broker;

/// <summary>
/// Builds the permissions of an identity from the configured authorizers (the ACL file and the like, as they are now:
/// their permission objects follow reloads): for a client at CONNECT or re-authentication, and for a session restored
/// from the store, which nobody has authenticated since the restart. Null means nothing restricts the identity (no
/// authorizer and nothing granted with the credentials); an identity that cannot be known gets permissions that
/// allow nothing, never null.
/// </summary>
internal static class IdentityAuthorization
{
    /// <summary>The authorizers' permissions for <paramref name="identity"/>, and <paramref name="granted"/>; null: everything allowed.</summary>
    public static IClientAuthorization? Build(SecurityRuntime security, ClientIdentity identity, EndPoint? remote, IClientAuthorization? granted)
    {
        var authorizers = security.Options.Authorizers;
        var parts = new List<IClientAuthorization>(authorizers.Count + 1);
        if (granted is not null)
        {
            parts.Add(granted);
        }
        foreach (var authorizer in authorizers)
        {
            parts.Add(authorizer.Authorize(identity));
        }
        var combined = AllOfAuthorization.Combine(parts);
        return combined is null ? null : new GuardedAuthorization(combined, security, identity, remote);
    }

    /// <summary>
    /// The permissions of a session restored after a restart, until a client of it connects: those of its stored owner
    /// (<see cref="SessionIdentity"/>: username, certificate identity or anonymous) under the current authorizers, with
    /// no listener name (none is stored). They decide whether its delayed will may still be published and what
    /// reaches its queue. What came with the owner's credentials (a JWT's topic claims) is not stored and does not
    /// apply. A session without an owner (stored before owners were recorded) may do nothing while any authorizer is
    /// configured: nobody's permissions can be asked for it.
    /// </summary>
    public static IClientAuthorization? ForRestoredSession(SecurityRuntime security, string? owner, string clientId)
    {
        if (security.Options.Authorizers.Count == 0)
        {
            return null;
        }
        var identity = new ClientIdentity(clientId, owner is null ? null : SessionIdentity.UsernameOf(owner), ListenerName: "");
        return owner is null
            ? new GuardedAuthorization(NothingAllowed.Instance, security, identity, remote: null)
            : Build(security, identity, remote: null, granted: null);
    }

    /// <summary>Nothing allowed: the permissions of an identity that is not known.</summary>
    private sealed class NothingAllowed : IClientAuthorization
    {
        public static readonly NothingAllowed Instance = new();

        public bool CanPublish(string topic) => false;
        public bool CanSubscribe(string filter) => false;
        public bool CanReceive(string topic) => false;
    }
}
