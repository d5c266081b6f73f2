using System.Text;
using Starling.Broker;
using Starling.Protocol;

namespace Starling.Server.Management;

/// <summary>A page of a list: the total number of matches and the items from offset.</summary>
public sealed record ListResult<T>(int Total, int Offset, IReadOnlyList<T> Items);

/// <summary>A session and, when connected, its client. <see cref="Dropped"/>: messages dropped for it, by reason (only non-zero ones).</summary>
public sealed record SessionModel(
    string ClientId,
    bool Connected,
    string? RemoteAddress,
    string? Listener,
    string? ProtocolVersion,
    string? Username,
    int KeepAliveSeconds,
    long SessionExpiryInterval,
    DateTimeOffset? ConnectedAt,
    int Subscriptions,
    int Inflight,
    int Queued,
    IReadOnlyDictionary<string, long>? Dropped = null)
{
    internal static SessionModel From(SessionSnapshot s) => new(s.ClientId, s.Connected, s.RemoteAddress, s.Listener,
        VersionText(s.ProtocolVersion), s.Username, s.KeepAliveSeconds, s.SessionExpiryInterval, s.ConnectedAt, s.SubscriptionCount,
        s.InflightCount, s.QueuedCount, s.Dropped);

    internal static string? VersionText(ProtocolVersion version) => version switch
    {
        Protocol.ProtocolVersion.V310 => "3.1",
        Protocol.ProtocolVersion.V311 => "3.1.1",
        Protocol.ProtocolVersion.V500 => "5.0",
        _ => null,
    };
}

/// <summary>One session with its subscriptions.</summary>
public sealed record SessionDetailModel(SessionModel Session, IReadOnlyList<SubscriptionModel> SubscriptionList);

/// <summary>One subscription of a client.</summary>
public sealed record SubscriptionModel(
    string ClientId,
    string TopicFilter,
    int QoS,
    bool NoLocal,
    bool RetainAsPublished,
    int RetainHandling,
    long? SubscriptionIdentifier,
    string? ShareName)
{
    internal static SubscriptionModel From(string clientId, SubscriptionSnapshot s) => new(clientId, s.TopicFilter, (int)s.QoS, s.NoLocal,
        s.RetainAsPublished, (int)s.RetainHandling, s.SubscriptionIdentifier == 0 ? null : s.SubscriptionIdentifier, s.ShareName);
}

/// <summary>
/// A retained message with a preview of its payload: the first <see cref="PreviewBytes"/> bytes, as text when they are
/// valid UTF-8 (cut at a character boundary), always as base64; <see cref="PayloadTruncated"/> when the payload is longer.
/// </summary>
public sealed record RetainedMessageModel(string Topic, int QoS, int PayloadSize, string? PayloadText, string PayloadBase64, DateTimeOffset ReceivedAt,
    bool PayloadTruncated = false)
{
    /// <summary>Payload bytes shown per message: enough to recognise it, small enough that a page stays cheap.</summary>
    public const int PreviewBytes = 1024;

    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    internal static RetainedMessageModel From(RetainedMessageSnapshot m)
    {
        var payload = m.Payload.Span;
        var truncated = payload.Length > PreviewBytes;
        var preview = truncated ? payload[..PreviewBytes] : payload;
        var textBytes = preview;
        if (truncated)
        {
            // Do not cut a UTF-8 sequence: drop the continuation bytes (10xxxxxx) at the end and the lead byte before them.
            var end = textBytes.Length;
            var back = 0;
            while (back < 3 && end - back - 1 >= 0 && (textBytes[end - back - 1] & 0xC0) == 0x80)
            {
                back++;
            }
            if (end - back - 1 >= 0 && textBytes[end - back - 1] >= 0xC0)
            {
                textBytes = textBytes[..(end - back - 1)];
            }
        }
        string? text;
        try
        {
            text = s_strictUtf8.GetString(textBytes);
        }
        catch (DecoderFallbackException)
        {
            text = null;
        }
        return new RetainedMessageModel(m.Topic, (int)m.QoS, payload.Length, text, Convert.ToBase64String(preview), m.ReceivedAt, truncated);
    }
}

/// <summary>A message to publish: the payload as text (UTF-8) or as base64, not both.</summary>
public sealed record PublishRequest(string Topic, string? Payload = null, string? PayloadBase64 = null, int QoS = 0, bool Retain = false);

/// <summary>How many sessions the published message was handed to.</summary>
public sealed record PublishResult(string Topic, int Receivers);

/// <summary>Broker-wide figures.</summary>
public sealed record StatsModel(
    string Version,
    DateTimeOffset StartedAt,
    long UptimeSeconds,
    int ConnectedClients,
    int PendingConnections,
    int Sessions,
    int Subscriptions,
    int RetainedMessages,
    long ConnectionsAccepted,
    long ConnectionsRefused,
    long MessagesReceived,
    long MessagesDelivered,
    long MessagesDropped,
    long BytesReceived,
    long BytesSent,
    long QueuedMessages,
    long InflightMessages,
    long AuthenticationFailures,
    IReadOnlyDictionary<string, long>? DroppedByReason = null);

/// <summary>What the dashboard needs to know about the server.</summary>
public sealed record ServerInfoModel(string Version, WebSocketInfoModel WebSockets);

/// <summary>The MQTT over WebSockets listener, for the dashboard's built-in client.</summary>
public sealed record WebSocketInfoModel(bool Enabled, int? Port, string Path, bool Tls);

/// <summary>An error message.</summary>
public sealed record ErrorModel(string Error);

/// <summary>Health or readiness.</summary>
public sealed record StatusModel(string Status);
