using Microsoft.Extensions.Logging;

namespace Starling.Broker;

/// <summary>Log lines of the broker itself (category "Starling.Broker"): shutdown and the heartbeat (event ids 1900-1999).</summary>
internal static partial class BrokerLog
{
    [LoggerMessage(EventId = 1901, Level = LogLevel.Warning, Message = "{Count} connections did not close within 10 s of shutdown")]
    public static partial void ConnectionsDidNotClose(ILogger logger, int count);

    [LoggerMessage(EventId = 1902, Level = LogLevel.Error, Message = "Heartbeat tick failed")]
    public static partial void HeartbeatFailed(ILogger logger, Exception exception);
}
