namespace Starling.Server.Tls;

/// <summary>Whether a TLS listener asks clients for a certificate.</summary>
public enum ClientCertificateMode
{
    /// <summary>Not asked for.</summary>
    None,

    /// <summary>Asked for; a client without one is accepted, a presented one must be valid against the CA.</summary>
    Optional,

    /// <summary>A valid certificate issued by the CA is required.</summary>
    Required,
}

/// <summary>TLS settings of one listener (Listeners:N:Tls:*).</summary>
public sealed record TlsSettings(
    string ListenerName,
    string ConfigPrefix,
    string CertFile,
    string KeyFile,
    string? CaFile,
    ClientCertificateMode ClientCertificate,
    bool UseIdentityAsUsername,
    CertificateIdentitySource IdentitySource = CertificateIdentitySource.CommonName);
