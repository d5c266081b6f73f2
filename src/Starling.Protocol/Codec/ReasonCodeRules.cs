namespace Starling.Protocol;

/// <summary>
/// Which reason codes each 5.0 packet may carry (3.2.2.2, 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1, 3.9.3, 3.11.3, 3.14.2.1,
/// 3.15.2.1), and the mapping to the return codes of 3.1/3.1.1.
/// </summary>
public static class ReasonCodeRules
{
    private static ReadOnlySpan<byte> ConnAckCodes => [0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F];
    private static ReadOnlySpan<byte> PubAckCodes => [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
    private static ReadOnlySpan<byte> PubRelCodes => [0x00, 0x92];
    private static ReadOnlySpan<byte> SubAckCodes => [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2];
    private static ReadOnlySpan<byte> UnsubAckCodes => [0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91];
    private static ReadOnlySpan<byte> DisconnectCodes => [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2];
    private static ReadOnlySpan<byte> AuthCodes => [0x00, 0x18, 0x19];

    /// <summary>True when a 5.0 packet of type <paramref name="type"/> may carry <paramref name="code"/>.</summary>
    public static bool IsAllowed(PacketType type, ReasonCode code)
    {
        var set = type switch
        {
            PacketType.ConnAck => ConnAckCodes,
            PacketType.PubAck or PacketType.PubRec => PubAckCodes,
            PacketType.PubRel or PacketType.PubComp => PubRelCodes,
            PacketType.SubAck => SubAckCodes,
            PacketType.UnsubAck => UnsubAckCodes,
            PacketType.Disconnect => DisconnectCodes,
            PacketType.Auth => AuthCodes,
            _ => [],
        };
        return set.Contains((byte)code);
    }

    /// <summary>
    /// The 3.1/3.1.1 CONNACK return code (3.2.2.3) for a reason code:
    /// <list type="table">
    /// <item><term>0 accepted</term><description>Success</description></item>
    /// <item><term>1 unacceptable protocol version</term><description>UnsupportedProtocolVersion</description></item>
    /// <item><term>2 identifier rejected</term><description>ClientIdentifierNotValid</description></item>
    /// <item><term>3 server unavailable</term><description>ServerUnavailable, ServerBusy, ServerShuttingDown,
    /// UseAnotherServer, ServerMoved, ConnectionRateExceeded, QuotaExceeded, UnspecifiedError,
    /// ImplementationSpecificError (conditions on the server's side)</description></item>
    /// <item><term>4 bad user name or password</term><description>BadUserNameOrPassword</description></item>
    /// <item><term>5 not authorized</term><description>NotAuthorized, Banned, BadAuthenticationMethod, and every other
    /// failure code (the client's request was refused)</description></item>
    /// </list>
    /// A success code other than Success (below 0x80) cannot be expressed: <see cref="ArgumentOutOfRangeException"/>.
    /// </summary>
    public static byte ToConnAckReturnCode(ReasonCode code) => code switch
    {
        ReasonCode.Success => 0,
        ReasonCode.UnsupportedProtocolVersion => 1,
        ReasonCode.ClientIdentifierNotValid => 2,
        ReasonCode.ServerUnavailable or ReasonCode.ServerBusy or ReasonCode.ServerShuttingDown or ReasonCode.UseAnotherServer
            or ReasonCode.ServerMoved or ReasonCode.ConnectionRateExceeded or ReasonCode.QuotaExceeded
            or ReasonCode.UnspecifiedError or ReasonCode.ImplementationSpecificError => 3,
        ReasonCode.BadUserNameOrPassword => 4,
        >= ReasonCode.UnspecifiedError => 5,
        _ => throw new ArgumentOutOfRangeException(nameof(code), code, "not a CONNACK reason code"),
    };

    /// <summary>The reason code for a 3.1/3.1.1 CONNACK return code; false for the reserved values 6 to 255.</summary>
    public static bool TryFromConnAckReturnCode(byte returnCode, out ReasonCode code)
    {
        code = returnCode switch
        {
            0 => ReasonCode.Success,
            1 => ReasonCode.UnsupportedProtocolVersion,
            2 => ReasonCode.ClientIdentifierNotValid,
            3 => ReasonCode.ServerUnavailable,
            4 => ReasonCode.BadUserNameOrPassword,
            5 => ReasonCode.NotAuthorized,
            _ => ReasonCode.UnspecifiedError,
        };
        return returnCode <= 5;
    }

    /// <summary>The 3.1/3.1.1 SUBACK return code: granted QoS 0/1/2 unchanged, any failure (>= 0x80) as 0x80.</summary>
    public static byte ToSubAckReturnCode(ReasonCode code) => code switch
    {
        ReasonCode.Success or ReasonCode.GrantedQoS1 or ReasonCode.GrantedQoS2 => (byte)code,
        >= ReasonCode.UnspecifiedError => 0x80,
        _ => throw new ArgumentOutOfRangeException(nameof(code), code, "not a SUBACK reason code"),
    };
}
