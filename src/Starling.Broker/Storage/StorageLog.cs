using Microsoft.Extensions.Logging;

namespace Starling.Broker.Storage;

/// <summary>Source-generated log messages of the broker's storage side (event ids 2100-2199 of sessions/router/storage).</summary>
internal static partial class StorageLog
{
    [LoggerMessage(EventId = 2100, Level = LogLevel.Error, Message = "Storage: a post-commit step failed: {Message}")]
    public static partial void PostCommitStepFailed(ILogger logger, Exception exception, string message);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Warning,
        Message = "Storage: writing to {Store} works again after {Attempts} failed attempts; held-back acknowledgements are being sent")]
    public static partial void WriteRecovered(ILogger logger, string store, int attempts);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Error,
        Message = "Storage: giving up at shutdown: {Count} changes could not be written to {Store}: {Message} " +
            "Messages that were not acknowledged to their publishers are not lost for them (they will send them again); " +
            "session state changes since the last successful write are.")]
    public static partial void GivingUpAtShutdown(ILogger logger, Exception exception, int count, string store, string message);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Error,
        Message = "Storage: cannot write to {Store}: {Message} Acknowledgements of durable messages are held back " +
            "(publishers slow down) and the write is retried every few seconds until it succeeds.")]
    public static partial void WriteFailed(ILogger logger, Exception exception, string store, string message);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Information,
        Message = "Restored from {Store}: {Sessions} sessions, {Subscriptions} subscriptions, {Queued} queued and {Inflight} inflight messages, {Retained} retained messages")]
    public static partial void Restored(ILogger logger, string store, int sessions, int subscriptions, long queued, int inflight, int retained);

    [LoggerMessage(EventId = 2105, Level = LogLevel.Error, Message = "Storage: cannot read queued messages of client {ClientId} from {Store}: {Message}")]
    public static partial void PageReadFailed(ILogger logger, Exception exception, string clientId, string store, string message);
}
