namespace Starling.Server.Logging;

// Start-up messages about the store's files (event ids 4150-4159, issue 16).
internal static partial class ServerLog
{
    [LoggerMessage(EventId = 4150, Level = LogLevel.Warning,
        Message = "Storage: {What} can be read by other users of this machine: sessions, queued and retained messages are in it. " +
            "Make it owner-only (chmod 700 on the directory, chmod 600 on its files) or move the data directory (--data-dir DIR) somewhere private.")]
    public static partial void StorageReadableByOthers(ILogger logger, string what);
}
