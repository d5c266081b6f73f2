namespace Starling.Broker.Security;

/// <summary>Who a connected client is, once authenticated.</summary>
/// <param name="ClientId">The client id (assigned one for a zero-length id).</param>
/// <param name="Username">The username after authentication (a certificate CN with use_identity_as_username), or null for anonymous.</param>
/// <param name="ListenerName">The listener that accepted the connection.</param>
public sealed record ClientIdentity(string ClientId, string? Username, string ListenerName);

/// <summary>
/// Topic permissions of one connected client, built once at CONNECT and asked on the hot path: implementations must not
/// allocate per call and must be safe to call from any thread (deliveries come from publishers' read loops).
/// </summary>
public interface IClientAuthorization
{
    /// <summary>May the client PUBLISH to this topic name?</summary>
    bool CanPublish(string topic);

    /// <summary>May the client SUBSCRIBE with this filter (for a shared subscription, the filter without $share/name/)?</summary>
    bool CanSubscribe(string filter);

    /// <summary>May a message on this topic be delivered to the client (live or retained)?</summary>
    bool CanReceive(string topic);
}

/// <summary>Decides the topic permissions of a client; asked once per CONNECT.</summary>
public interface IAuthorizer
{
    string Name { get; }

    IClientAuthorization Authorize(ClientIdentity client);
}

/// <summary>Everything allowed.</summary>
public sealed class AllowAllAuthorization : IClientAuthorization
{
    public static readonly AllowAllAuthorization Instance = new();

    private AllowAllAuthorization()
    {
    }

    public bool CanPublish(string topic) => true;
    public bool CanSubscribe(string filter) => true;
    public bool CanReceive(string topic) => true;
}

/// <summary>Allowed only when every part allows.</summary>
public sealed class AllOfAuthorization(IClientAuthorization[] parts) : IClientAuthorization
{
    public bool CanPublish(string topic)
    {
        foreach (var p in parts)
        {
            if (!p.CanPublish(topic))
            {
                return false;
            }
        }
        return true;
    }

    public bool CanSubscribe(string filter)
    {
        foreach (var p in parts)
        {
            if (!p.CanSubscribe(filter))
            {
                return false;
            }
        }
        return true;
    }

    public bool CanReceive(string topic)
    {
        foreach (var p in parts)
        {
            if (!p.CanReceive(topic))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Combines the non-null parts; null when there is nothing to check.</summary>
    public static IClientAuthorization? Combine(List<IClientAuthorization> parts)
    {
        parts.RemoveAll(p => p is AllowAllAuthorization);
        return parts.Count switch
        {
            0 => null,
            1 => parts[0],
            _ => new AllOfAuthorization([.. parts]),
        };
    }
}
