using Microsoft.Extensions.Logging;

namespace Starling.Broker;

/// <summary>Log lines of the broker itself (category "Starling.Broker"): shutdown, the heartbeat and the $SYS publisher (event ids 1900-1999).</summary>
internal static partial class BrokerLog
{
    [LoggerMessage(EventId = 1901, Level = LogLevel.Warning, Message = "{Count} connections did not close within 10 s of shutdown")]
    public static partial void ConnectionsDidNotClose(ILogger logger, int count);

    [LoggerMessage(EventId = 1902, Level = LogLevel.Error, Message = "Heartbeat tick failed")]
    public static partial void HeartbeatFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1903, Level = LogLevel.Warning, Message = "Publishing the $SYS topics failed: {Message}")]
    public static partial void SysPublishFailed(ILogger logger, Exception exception, string message);
}
