using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Starling.Security.Tests.Infrastructure;
using Starling.Testing;

namespace Starling.Security.Tests;

/// <summary>
/// Management:Tls:CertFile/KeyFile (issue 16, finding 19): the management port (API, dashboard, /metrics) serves
/// https:// only, with the configured certificate.
/// </summary>
public sealed class ManagementTlsTests
{
    [Fact]
    public async Task Management_port_with_Tls_serves_the_api_over_https_and_refuses_plain_http()
    {
        using var dir = new TempDir();
        var pki = new TestPki(dir.Path);
        await using var server = await TestServer.StartAsync(new TestServerOptions
        {
            Management = true,
            Config = new Dictionary<string, string?>
            {
                ["Management:Tls:CertFile"] = pki.Cert("server"),
                ["Management:Tls:KeyFile"] = pki.Key("server"),
            },
        });
        var endpoint = server.Management ?? throw new InvalidOperationException("management port not bound");

        // A client that trusts the test CA only (not the machine's roots): the handshake succeeds only with the
        // configured certificate, issued by that CA for 127.0.0.1 (the name is checked too).
        using var https = new HttpClient(new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, certificate, _, errors)
                => (errors & SslPolicyErrors.RemoteCertificateNameMismatch) == 0 && TrustedByTestCa(pki, certificate),
        })
        { BaseAddress = new Uri($"https://{endpoint}/"), Timeout = TimeSpan.FromSeconds(30) };

        using (var anonymous = await https.GetAsync(new Uri("api/stats", UriKind.Relative)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/stats");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", TestServer.ApiKey);
        using var response = await https.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"sessions\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // Plain HTTP to the same port gets no HTTP answer: Kestrel expects a TLS handshake and closes the connection.
        using var plain = new HttpClient { BaseAddress = new Uri($"http://{endpoint}/"), Timeout = TimeSpan.FromSeconds(30) };
        plain.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TestServer.ApiKey);
        await Assert.ThrowsAsync<HttpRequestException>(() => plain.GetAsync(new Uri("api/stats", UriKind.Relative)));
    }

    private static bool TrustedByTestCa(TestPki pki, X509Certificate2? certificate)
    {
        if (certificate is null)
        {
            return false;
        }
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(pki.Ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }
}
