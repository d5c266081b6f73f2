using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;

namespace Starling.Server.Tls;

/// <summary>Where Listeners:N:Tls:UseIdentityAsUsername takes the username from (Listeners:N:Tls:IdentitySource).</summary>
public enum CertificateIdentitySource
{
    /// <summary>The subject's common name; the subject must hold exactly one (<c>cn</c>, the default).</summary>
    CommonName,

    /// <summary>The first DNS name of the subject alternative names (<c>dns-san</c>).</summary>
    DnsSan,

    /// <summary>The first URI of the subject alternative names (<c>uri-san</c>).</summary>
    UriSan,
}

/// <summary>
/// The username a client certificate stands for. Ambiguity is refused, never resolved by a guess: a subject with two
/// CNs (<c>CN=device-42, CN=admin</c>) or none gives no identity, so a CA that signs such a certificate cannot be
/// made to vouch for a name it did not mean.
/// </summary>
internal static class CertificateIdentity
{
    private const string CommonNameOid = "2.5.4.3";
    private const string SubjectAltNameOid = "2.5.29.17";

    /// <summary>The identity, or null with <paramref name="problem"/> saying why there is none.</summary>
    public static string? Of(X509Certificate2 certificate, CertificateIdentitySource source, out string? problem)
    {
        problem = null;
        var name = source switch
        {
            CertificateIdentitySource.DnsSan => FirstSan(certificate, 2, "a DNS name", ref problem),
            CertificateIdentitySource.UriSan => FirstSan(certificate, 6, "a URI", ref problem),
            _ => SingleCommonName(certificate, ref problem),
        };
        if (name is { Length: 0 })
        {
            problem = "the certificate's identity is empty";
            return null;
        }
        return name;
    }

    private static string? SingleCommonName(X509Certificate2 certificate, ref string? problem)
    {
        string? found = null;
        var count = 0;
        foreach (var rdn in certificate.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            if (rdn.HasMultipleElements)
            {
                // A multi-valued RDN (e.g. CN=a+CN=b) cannot be read element by element here: refuse rather than guess.
                problem = "the certificate subject has a multi-valued name component; it must hold exactly one CN";
                return null;
            }
            if (rdn.GetSingleElementType().Value == CommonNameOid)
            {
                count++;
                found = rdn.GetSingleElementValue();
            }
        }
        if (count != 1)
        {
            problem = $"the certificate subject holds {count} CNs, and exactly one is needed for Tls:UseIdentityAsUsername";
            return null;
        }
        return found;
    }

    /// <summary>The first GeneralName with context tag <paramref name="tag"/> (2 dNSName, 6 uniformResourceIdentifier).</summary>
    private static string? FirstSan(X509Certificate2 certificate, int tag, string what, ref string? problem)
    {
        var extension = certificate.Extensions[SubjectAltNameOid];
        if (extension is not null)
        {
            try
            {
                var reader = new AsnReader(extension.RawData, AsnEncodingRules.DER);
                var names = reader.ReadSequence();
                reader.ThrowIfNotEmpty();
                var wanted = new Asn1Tag(TagClass.ContextSpecific, tag);
                while (names.HasData)
                {
                    if (names.PeekTag().HasSameClassAndValue(wanted))
                    {
                        return names.ReadCharacterString(UniversalTagNumber.IA5String, wanted);
                    }
                    names.ReadEncodedValue();
                }
            }
            catch (AsnContentException)
            {
                problem = "the certificate's subject alternative names cannot be decoded";
                return null;
            }
        }
        problem = $"the certificate has no subject alternative name that is {what} (Tls:IdentitySource)";
        return null;
    }
}
