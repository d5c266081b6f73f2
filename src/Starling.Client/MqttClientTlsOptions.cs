using System.Security.Authentication;

namespace Starling.Client;

/// <summary>TLS settings of a client connection (mosquitto_pub's --cafile, --cert, --key, --insecure, --tls-version).</summary>
public sealed class MqttClientTlsOptions
{
    /// <summary>PEM file of the CA(s) that must have signed the server's certificate; null: the system's trust store.</summary>
    public string? CaFile { get; set; }

    /// <summary>PEM file of the client certificate, for brokers that ask for one (with <see cref="KeyFile"/>).</summary>
    public string? CertFile { get; set; }

    /// <summary>PEM file of the client certificate's private key.</summary>
    public string? KeyFile { get; set; }

    /// <summary>Do not check that the server's certificate names the host (the chain is still checked).</summary>
    public bool Insecure { get; set; }

    /// <summary>Host name to expect in the server's certificate and to send as SNI; default: the host connected to.</summary>
    public string? ServerName { get; set; }

    /// <summary>Allowed TLS versions; None lets the system choose (TLS 1.2 and 1.3).</summary>
    public SslProtocols Protocols { get; set; } = SslProtocols.None;
}
