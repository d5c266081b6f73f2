using Starling.Broker.Security;

namespace Starling.Broker;

/// <summary>
/// The outcome of a successful authentication (plain or enhanced): who the client is and what it may do.
/// <paramref name="Username"/> is null for an anonymous client; <paramref name="Authorization"/> null means everything
/// is allowed. <paramref name="Credentials"/>: how an authenticator accepted it (null without one, e.g. anonymous or
/// certificate identity), watched for expiry and revocation.
/// </summary>
internal readonly record struct AuthenticatedClient(string? Username, IClientAuthorization? Authorization, Credentials? Credentials = null);
