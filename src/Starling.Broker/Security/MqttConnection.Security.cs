using System.Net;
using Microsoft.Extensions.Logging;
using Starling.Broker.Security;
using Starling.Protocol;

namespace Starling.Broker;

/// <summary>The connection's security hooks: admission, authentication at CONNECT, and per-packet permission and limit checks.</summary>
internal sealed partial class MqttConnection
{
    private IClientAuthorization? _authorization;
    private TokenBucket? _publishBucket;
    private bool _pendingCounted;
    private IPAddress? _countedAddress;
    // Set by authentication, shown as Username once connected (one field for both: idle-connection memory).
    private string? _authenticatedUsername;

    /// <summary>The client's permissions (null: everything allowed); set at CONNECT.</summary>
    public IClientAuthorization? Authorization => _authorization;

    private SecurityRuntime Security => _broker.Security;

    /// <summary>Counts the new transport; over a connection limit it is closed before any MQTT is exchanged.</summary>
    private void AdmitTransport()
    {
        var address = (_info.RemoteEndPoint as IPEndPoint)?.Address;
        // This connection is already counted in RunningConnections (MqttBroker.RunConnectionAsync); lingering
        // sockets of ended ones hold descriptors too.
        if (!Security.TryAdmit(address, _broker.OpenTransports, out var cause))
        {
            Security.Log.Write(cause, cause switch
            {
                RejectionCause.OpenConnections => $"connection from {_info.RemoteEndPoint} closed: {Security.Options.MaxOpenConnections} connections are open (Limits:MaxOpenConnections; its default follows the open-file limit, ulimit -n)",
                RejectionCause.PendingConnections => $"connection from {_info.RemoteEndPoint} closed: {Security.Options.MaxPendingConnections} connections are already waiting for CONNECT (Limits:MaxPendingConnections)",
                _ => $"connection from {_info.RemoteEndPoint} closed: more than {Security.Options.MaxConnectionsPerAddress} connections from {address} (Limits:MaxConnectionsPerAddress)",
            });
            Abort(null, "connection limit");
            return;
        }
        _pendingCounted = true;
        _countedAddress = Security.Options.MaxConnectionsPerAddress > 0 ? address : null;
    }

    private void LeavePending()
    {
        if (_pendingCounted)
        {
            _pendingCounted = false;
            Security.LeavePending();
        }
    }

    private void ReleaseTransport()
    {
        LeavePending();
        if (_countedAddress is { } address)
        {
            _countedAddress = null;
            Security.ReleaseAddress(address);
        }
    }

    /// <summary>
    /// Overload guard, authentication and authorization of a CONNECT whose client id passed its checks. Returns false
    /// after refusing it (CONNACK with the reason, then close).
    /// </summary>
    private bool AuthenticateConnect(ConnectPacket connect, string clientId)
    {
        var v5 = _version == ProtocolVersion.V500;
        var options = Security.Options;
        if (!CheckOverload())
        {
            return false;
        }

        string? username = connect.Username;
        IClientAuthorization? granted = null;
        var decided = false;
        if (_info.CertificateUsername is { } certificateName)
        {
            // use_identity_as_username: the certificate, already validated against the CA, is the credential.
            username = certificateName;
            decided = true;
        }
        else
        {
            var request = new AuthenticationRequest(clientId, connect.Username, connect.Password, connect.Password is not null,
                _info.ClientCertificate, _info.RemoteEndPoint, _info.ListenerName, _version);
            foreach (var authenticator in options.Authenticators)
            {
                var result = authenticator.Authenticate(request);
                if (result.Outcome == AuthenticationOutcome.NotApplicable)
                {
                    continue;
                }
                if (result.Outcome == AuthenticationOutcome.Refused)
                {
                    return RefuseAuthentication(result.ReasonCode, $"{authenticator.Name}: {result.Reason}", v5);
                }
                username = result.ResolvedUsername ?? username;
                granted = result.Permissions;
                decided = true;
                break;
            }
        }
        if (!decided)
        {
            if (username is null)
            {
                if (!_broker.Options.AllowAnonymous)
                {
                    Interlocked.Increment(ref Security.Counters.AnonymousRefused);
                    Security.Log.Write(RejectionCause.AnonymousRefused, $"CONNECT of client '{clientId}' from {_info.RemoteEndPoint} refused: anonymous clients are not allowed (AllowAnonymous)");
                    Refuse(ReasonCode.NotAuthorized, "anonymous clients are not allowed");
                    return false;
                }
            }
            else if (options.HasAuthentication)
            {
                return RefuseAuthentication(ReasonCode.BadUserNameOrPassword, $"unknown user '{username}'", v5);
            }
        }
        return GrantConnect(connect, clientId, username, granted);
    }

    /// <summary>The overload guard of CONNECT; false after refusing it.</summary>
    private bool CheckOverload()
    {
        if (!Security.IsOverloaded())
        {
            return true;
        }
        Interlocked.Increment(ref Security.Counters.Overloaded);
        Security.Log.Write(RejectionCause.Overloaded,
            $"CONNECT from {_info.RemoteEndPoint} refused: managed memory is above {Security.Options.MaxMemoryFraction:P0} of what is available (Limits:MaxMemoryFraction)");
        Refuse(_version == ProtocolVersion.V500 ? ReasonCode.ServerBusy : ReasonCode.ServerUnavailable, "server overloaded (memory)");
        return false;
    }

    /// <summary>The permissions of an authenticated identity (null: everything allowed): the authorizers' and <paramref name="granted"/>.</summary>
    private IClientAuthorization? BuildAuthorization(string clientId, string? username, IClientAuthorization? granted)
    {
        var options = Security.Options;
        var identity = new ClientIdentity(clientId, username, _info.ListenerName);
        var parts = new List<IClientAuthorization>(options.Authorizers.Count + 1);
        if (granted is not null)
        {
            parts.Add(granted);
        }
        foreach (var authorizer in options.Authorizers)
        {
            parts.Add(authorizer.Authorize(identity));
        }
        var combined = AllOfAuthorization.Combine(parts);
        return combined is null ? null : new GuardedAuthorization(combined, Security, identity, _info.RemoteEndPoint);
    }

    /// <summary>Authorization of an authenticated CONNECT (also after enhanced authentication); false after refusing it.</summary>
    private bool GrantConnect(ConnectPacket connect, string clientId, string? username, IClientAuthorization? granted)
    {
        _authorization = BuildAuthorization(clientId, username, granted);
        _authenticatedUsername = username;
        if (connect.Will is { } will && _authorization is { } authorization && !authorization.CanPublish(will.Topic))
        {
            // Mosquitto refuses a CONNECT whose will it could never publish.
            Refuse(ReasonCode.NotAuthorized, $"not authorized to publish the will to '{will.Topic}'");
            return false;
        }
        LeavePending();
        return true;
    }

    private bool RefuseAuthentication(ReasonCode code, string why, bool v5)
    {
        Interlocked.Increment(ref Security.Counters.AuthenticationFailed);
        Security.Log.Write(RejectionCause.AuthenticationFailed, $"CONNECT from {_info.RemoteEndPoint} refused (0x{(byte)code:X2}): {why}");
        Refuse(code, why);
        return false;
    }

    /// <summary>Success, or the reason a PUBLISH to <paramref name="topic"/> is acknowledged but dropped.</summary>
    private ReasonCode CheckPublishSecurity(string topic)
    {
        var options = Security.Options;
        if (topic.Length > options.MaxTopicLength || TopicMatcher.Levels(topic) > options.MaxTopicLevels)
        {
            Interlocked.Increment(ref Security.Counters.TopicLimitExceeded);
            Security.Log.Write(RejectionCause.TopicLimit, $"PUBLISH of client '{_clientId}' dropped: topic longer than Limits:MaxTopicLength ({options.MaxTopicLength}) or deeper than Limits:MaxTopicLevels ({options.MaxTopicLevels})");
            return ReasonCode.TopicNameInvalid;
        }
        if (options.MaxPublishRate > 0)
        {
            _publishBucket ??= new TokenBucket(options.MaxPublishRate, options.PublishBurst, _broker.Time);
            if (!_publishBucket.TryTake())
            {
                Interlocked.Increment(ref Security.Counters.PublishRateExceeded);
                Security.Log.Write(RejectionCause.PublishRate, $"PUBLISH of client '{_clientId}' dropped: above Limits:MaxPublishRate ({options.MaxPublishRate}/s)");
                return ReasonCode.QuotaExceeded;
            }
        }
        if (_authorization is { } authorization && !authorization.CanPublish(topic))
        {
            return ReasonCode.NotAuthorized;
        }
        return ReasonCode.Success;
    }

    /// <summary>Success, or the SUBACK failure for <paramref name="filter"/> (the v5 code; 3.1.1 sends 0x80).</summary>
    private ReasonCode CheckSubscribeSecurity(string filter, string topicFilter, Session session)
    {
        var options = Security.Options;
        if (topicFilter.Length > options.MaxTopicLength || TopicMatcher.Levels(topicFilter) > options.MaxTopicLevels)
        {
            Interlocked.Increment(ref Security.Counters.TopicLimitExceeded);
            Security.Log.Write(RejectionCause.TopicLimit, $"SUBSCRIBE of client '{_clientId}' to a filter longer than Limits:MaxTopicLength or deeper than Limits:MaxTopicLevels refused");
            return ReasonCode.TopicFilterInvalid;
        }
        if (options.MaxSubscriptionsPerClient > 0 && session.SubscriptionCount >= options.MaxSubscriptionsPerClient && session.GetSubscription(filter) is null)
        {
            Interlocked.Increment(ref Security.Counters.SubscriptionLimitExceeded);
            Security.Log.Write(RejectionCause.SubscriptionLimit, $"SUBSCRIBE of client '{_clientId}' to '{filter}' refused: it already has {options.MaxSubscriptionsPerClient} subscriptions (Limits:MaxSubscriptionsPerClient)");
            return ReasonCode.QuotaExceeded;
        }
        if (_authorization is { } authorization && !authorization.CanSubscribe(topicFilter))
        {
            return ReasonCode.NotAuthorized;
        }
        return ReasonCode.Success;
    }
}

/// <summary>Counts and logs (rate-limited) every denial of the permissions it wraps.</summary>
internal sealed class GuardedAuthorization(IClientAuthorization inner, SecurityRuntime security, ClientIdentity client, EndPoint? remote)
    : IClientAuthorization
{
    public bool CanPublish(string topic)
    {
        if (inner.CanPublish(topic))
        {
            return true;
        }
        Interlocked.Increment(ref security.Counters.PublishNotAuthorized);
        security.Log.Write(RejectionCause.PublishNotAuthorized, $"client '{client.ClientId}' (user '{client.Username}', {remote}) may not publish to '{topic}'");
        return false;
    }

    public bool CanSubscribe(string filter)
    {
        if (inner.CanSubscribe(filter))
        {
            return true;
        }
        Interlocked.Increment(ref security.Counters.SubscribeNotAuthorized);
        security.Log.Write(RejectionCause.SubscribeNotAuthorized, $"client '{client.ClientId}' (user '{client.Username}', {remote}) may not subscribe to '{filter}'");
        return false;
    }

    public bool CanReceive(string topic)
    {
        if (inner.CanReceive(topic))
        {
            return true;
        }
        // Not logged: a wide subscription meeting many unreadable topics is normal; counted only.
        Interlocked.Increment(ref security.Counters.DeliveryNotAuthorized);
        return false;
    }
}
