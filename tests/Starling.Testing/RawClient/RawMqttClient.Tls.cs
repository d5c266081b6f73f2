using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Starling.Protocol;

namespace Starling.Testing;

/// <summary>A client over TLS: a socket with an <see cref="SslStream"/> on top, authenticated before MQTT starts.</summary>
public sealed partial class RawMqttClient
{
    /// <summary>Opens a socket and completes the TLS handshake with <paramref name="tls"/>; fails if the handshake does.</summary>
    public static async Task<RawMqttClient> OpenTlsAsync(IPEndPoint endpoint, SslClientAuthenticationOptions tls, string name = "tls-client",
        ProtocolVersion version = ProtocolVersion.V311)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        SslStream? ssl = null;
        try
        {
            using var cts = new CancellationTokenSource(DefaultTimeout);
            await socket.ConnectAsync(endpoint, cts.Token);
            ssl = new SslStream(new NetworkStream(socket, ownsSocket: false));
            await ssl.AuthenticateAsClientAsync(tls, cts.Token);
        }
        catch
        {
            if (ssl is not null)
            {
                await ssl.DisposeAsync();
            }
            socket.Dispose();
            throw;
        }

        return new RawMqttClient(new TlsTransport(socket, ssl), name, version);
    }
}

/// <summary>TLS over a TCP socket; abrupt closes act on the socket underneath.</summary>
internal sealed class TlsTransport(Socket socket, SslStream ssl) : RawTransport
{
    private readonly SocketTransport _socket = new(socket);

    public override async ValueTask<int> SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        await ssl.WriteAsync(bytes, cancellationToken);
        return bytes.Length;
    }

    public override ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        => ssl.ReadAsync(buffer, cancellationToken);

    public override void CloseAbruptly() => _socket.CloseAbruptly();

    public override void Reset() => _socket.Reset();

    public override void Dispose()
    {
        ssl.Dispose();
        _socket.Dispose();
    }
}
