using System.Net;
using System.Text;
using System.Threading.Channels;
using Starling.Protocol;

namespace Starling.Testing;

/// <summary>Connect short-hands for tests that check what the server answers to credentials (3.1.1 or 5).</summary>
public sealed partial class RawMqttClient
{
    /// <summary>
    /// Opens a socket, sends a clean CONNECT for protocol level <paramref name="version"/> (4 or 5) with the given
    /// credentials, and returns the client and the CONNACK's return / reason code, or -1 when the server closed or sent
    /// nothing within <see cref="DefaultTimeout"/>.
    /// </summary>
    public static async Task<(RawMqttClient Client, int Code)> ConnectForCodeAsync(IPEndPoint endpoint, string clientId, string? user = null,
        byte[]? password = null, int version = 4, ushort keepAlive = 60)
    {
        var client = await OpenAsync(endpoint, clientId, version == 5 ? ProtocolVersion.V500 : ProtocolVersion.V311);
        await client.SendAsync(version == 5
            ? Packets5.Connect(new Connect5 { ClientId = clientId, KeepAlive = keepAlive, UserName = user, Password = password })
            : RawPackets.Connect(new ConnectSpec { ClientId = clientId, KeepAlive = keepAlive, UserName = user, Password = password }));
        MqttFrame? frame;
        using var cts = new CancellationTokenSource(DefaultTimeout);
        try
        {
            frame = await client._frames.Reader.ReadAsync(cts.Token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
        {
            frame = null;
        }
        return (client, frame is { Kind: PacketKind.ConnAck, Body.Length: >= 2 } ? frame.Body[1] : -1);
    }

    /// <summary>Like <see cref="ConnectForCodeAsync"/>, but fails unless the CONNACK code is 0.</summary>
    public static async Task<RawMqttClient> ConnectOkAsync(IPEndPoint endpoint, string clientId, string? user = null, string? password = null, int version = 4)
    {
        var (client, code) = await ConnectForCodeAsync(endpoint, clientId, user, password is null ? null : Encoding.UTF8.GetBytes(password), version);
        if (code != 0)
        {
            await client.DisposeAsync();
            throw new InvalidOperationException($"{clientId}: CONNACK {code}, expected 0");
        }
        return client;
    }

    /// <summary>
    /// The topics of the PUBLISHes received until <paramref name="quiet"/> passes without a packet or the connection
    /// ends (QoS 1 ones are acknowledged; other packets are skipped).
    /// </summary>
    public async Task<List<string>> DrainPublishesAsync(TimeSpan quiet)
    {
        var topics = new List<string>();
        while (true)
        {
            if (!_deferred.TryDequeue(out var frame))
            {
                using var cts = new CancellationTokenSource(quiet);
                try
                {
                    frame = await _frames.Reader.ReadAsync(cts.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
                {
                    return topics;
                }
            }
            if (frame.Kind == PacketKind.Publish)
            {
                var publish = ReceivedPublish.Parse(frame);
                topics.Add(publish.Topic);
                if (publish.Qos == 1)
                {
                    await SendAsync(RawPackets.PubAck(publish.PacketId));
                }
            }
        }
    }
}
