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

    [LoggerMessage(EventId = 2110, Level = LogLevel.Warning,
        Message = "Storage: {Store} is full ({Size} bytes used of Storage:MaxDatabaseSize {Max}): QoS 1/2 and retained publishes are refused " +
            "(MQTT 5: 0x97 Quota exceeded; 3.1.1: the connection is closed without an acknowledgement) until offline sessions " +
            "take their messages or expire. Raise Storage:MaxDatabaseSize, or lower Limits:MaxQueuedMessages / MaxQueuedBytes.")]
    public static partial void StoreFull(ILogger logger, string store, long size, long max);

    [LoggerMessage(EventId = 2111, Level = LogLevel.Information,
        Message = "Storage: {Store} has room again ({Size} bytes used of Storage:MaxDatabaseSize {Max}): publishes are accepted")]
    public static partial void StoreNoLongerFull(ILogger logger, string store, long size, long max);

    [LoggerMessage(EventId = 2112, Level = LogLevel.Warning,
        Message = "Storage: PUBLISH of client '{ClientId}' to '{Topic}' refused: the store is full (Storage:MaxDatabaseSize); {Suppressed} more refused in the last {Seconds} s")]
    public static partial void PublishRefusedStoreFull(ILogger logger, string clientId, string topic, long suppressed, int seconds);

    [LoggerMessage(EventId = 2113, Level = LogLevel.Warning,
        Message = "Storage: the write queue of {Store} is full ({Operations} operations, about {Bytes} bytes; limits Storage:MaxWriteQueueOperations " +
            "and Storage:MaxWriteQueueBytes): publishers stop being read until it drains; {Suppressed} more pauses in the last {Seconds} s")]
    public static partial void PublishersPaused(ILogger logger, string store, long operations, long bytes, long suppressed, int seconds);

    [LoggerMessage(EventId = 2150, Level = LogLevel.Warning,
        Message = "Storage: {Store} has no room ({Message}): {Refused} of {Count} changes of a batch were not written and will not be retried. " +
            "Acknowledgements that waited for them are negative (MQTT 5: 0x97 Quota exceeded; 3.1.1: the connection is closed); " +
            "subscriptions and sessions they described live on in memory only, until a restart. {Suppressed} more such batches in the last {Seconds} s")]
    public static partial void OperationsRefusedNoRoom(ILogger logger, string store, int refused, int count, string message, long suppressed, int seconds);

    [LoggerMessage(EventId = 2151, Level = LogLevel.Warning,
        Message = "Storage: {Request} of client '{ClientId}' refused: the store is full (Storage:MaxDatabaseSize); {Suppressed} more refused in the last {Seconds} s")]
    public static partial void RequestRefusedStoreFull(ILogger logger, string request, string clientId, long suppressed, int seconds);
}
