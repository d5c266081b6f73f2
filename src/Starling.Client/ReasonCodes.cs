using System.Globalization;
using Starling.Protocol;

namespace Starling.Client;

/// <summary>Human text for reason codes, for tools and logs.</summary>
public static class ReasonCodes
{
    /// <summary>"not authorised (0x87)".</summary>
    public static string Format(ReasonCode code) => $"{Describe(code)} (0x{((byte)code).ToString("X2", CultureInfo.InvariantCulture)})";

    /// <summary>"granted QoS 0 (0x00)" for a SUBACK, "normal disconnection (0x00)" for a DISCONNECT.</summary>
    public static string Format(ReasonCode code, PacketType packetType)
        => $"{Describe(code, packetType)} (0x{((byte)code).ToString("X2", CultureInfo.InvariantCulture)})";

    /// <summary>What a reason code means in a given packet: 0x00 reads differently in SUBACK and DISCONNECT.</summary>
    public static string Describe(ReasonCode code, PacketType packetType) => (code, packetType) switch
    {
        (ReasonCode.Success, PacketType.SubAck) => "granted QoS 0",
        (ReasonCode.Success, PacketType.Disconnect) => "normal disconnection",
        _ => Describe(code),
    };

    /// <summary>What a reason code means, in the words of the specification (section 2.4).</summary>
    public static string Describe(ReasonCode code) => code switch
    {
        ReasonCode.Success => "success",
        ReasonCode.GrantedQoS1 => "granted QoS 1",
        ReasonCode.GrantedQoS2 => "granted QoS 2",
        ReasonCode.DisconnectWithWillMessage => "disconnect with will message",
        ReasonCode.NoMatchingSubscribers => "no matching subscribers",
        ReasonCode.NoSubscriptionExisted => "no subscription existed",
        ReasonCode.ContinueAuthentication => "continue authentication",
        ReasonCode.ReAuthenticate => "re-authenticate",
        ReasonCode.UnspecifiedError => "unspecified error",
        ReasonCode.MalformedPacket => "malformed packet",
        ReasonCode.ProtocolError => "protocol error",
        ReasonCode.ImplementationSpecificError => "implementation specific error",
        ReasonCode.UnsupportedProtocolVersion => "unsupported protocol version",
        ReasonCode.ClientIdentifierNotValid => "client identifier not valid",
        ReasonCode.BadUserNameOrPassword => "bad user name or password",
        ReasonCode.NotAuthorized => "not authorised",
        ReasonCode.ServerUnavailable => "server unavailable",
        ReasonCode.ServerBusy => "server busy",
        ReasonCode.Banned => "banned",
        ReasonCode.ServerShuttingDown => "server shutting down",
        ReasonCode.BadAuthenticationMethod => "bad authentication method",
        ReasonCode.KeepAliveTimeout => "keep alive timeout",
        ReasonCode.SessionTakenOver => "session taken over",
        ReasonCode.TopicFilterInvalid => "topic filter invalid",
        ReasonCode.TopicNameInvalid => "topic name invalid",
        ReasonCode.PacketIdentifierInUse => "packet identifier in use",
        ReasonCode.PacketIdentifierNotFound => "packet identifier not found",
        ReasonCode.ReceiveMaximumExceeded => "receive maximum exceeded",
        ReasonCode.TopicAliasInvalid => "topic alias invalid",
        ReasonCode.PacketTooLarge => "packet too large",
        ReasonCode.MessageRateTooHigh => "message rate too high",
        ReasonCode.QuotaExceeded => "quota exceeded",
        ReasonCode.AdministrativeAction => "administrative action",
        ReasonCode.PayloadFormatInvalid => "payload format invalid",
        ReasonCode.RetainNotSupported => "retain not supported",
        ReasonCode.QoSNotSupported => "QoS not supported",
        ReasonCode.UseAnotherServer => "use another server",
        ReasonCode.ServerMoved => "server moved",
        ReasonCode.SharedSubscriptionsNotSupported => "shared subscriptions not supported",
        ReasonCode.ConnectionRateExceeded => "connection rate exceeded",
        ReasonCode.MaximumConnectTime => "maximum connect time",
        ReasonCode.SubscriptionIdentifiersNotSupported => "subscription identifiers not supported",
        ReasonCode.WildcardSubscriptionsNotSupported => "wildcard subscriptions not supported",
        _ => "unknown reason code",
    };

    /// <summary>True for codes 0x80 and above: the operation failed.</summary>
    public static bool IsError(ReasonCode code) => (byte)code >= 0x80;
}
