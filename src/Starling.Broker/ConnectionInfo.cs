using System.Net;

namespace Starling.Broker;

/// <summary>What the transport knows about one connection, handed to the broker with its pipe.</summary>
/// <param name="ConnectionId">Transport-assigned id, for logs.</param>
/// <param name="RemoteEndPoint">Peer address, when known.</param>
/// <param name="LocalEndPoint">Local address, when known.</param>
/// <param name="ListenerName">Name of the listener (e.g. "tcp", "ws"), for logs and metrics.</param>
public sealed record ConnectionInfo(string ConnectionId, EndPoint? RemoteEndPoint, EndPoint? LocalEndPoint, string ListenerName)
{
    /// <summary>The TLS client certificate, validated by the transport; null without TLS or without a certificate.</summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2? ClientCertificate { get; init; }

    /// <summary>With use_identity_as_username: the certificate's identity (CN), used as the username instead of CONNECT's.</summary>
    public string? CertificateUsername { get; init; }

    /// <summary>
    /// With use_identity_as_username: why the certificate gives no identity (no CN, several CNs, no such SAN). Set,
    /// the CONNECT is refused (0x87 / 5): the certificate was meant to be the credential.
    /// </summary>
    public string? CertificateIdentityProblem { get; init; }
}
