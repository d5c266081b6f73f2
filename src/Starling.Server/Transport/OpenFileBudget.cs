using Starling.Server.Logging;

namespace Starling.Server.Transport;

/// <summary>
/// Limits:MaxOpenConnections against the open-file limit, decided before the broker is built (its options do not
/// change once it runs): when the setting is not configured it becomes the <see cref="OpenFileLimit.ConnectionCapacity"/>;
/// a configured value above what fits is kept (the operator's choice) and <see cref="Log"/> warns about it.
/// The descriptors are counted once the host is built (most assemblies are mapped by then, each holding descriptors)
/// but before the broker, its store, the listeners, the poller and Kestrel open theirs and load their assemblies:
/// <see cref="StartupAllowance"/> stands for those, on top of the reserve (<see cref="OpenFileLimit.Reserve"/>).
/// </summary>
internal sealed record OpenFileBudget(int Limit, int Open, int Capacity, bool FromFileLimit, int Configured)
{
    /// <summary>
    /// Descriptors start-up opens after the count. Measured: 93 open before the host was built, 184 once the server
    /// listened (SQLite store, one plain listener, no TLS or management): the allowance covers that whole difference,
    /// so it holds even though part of it is already open when the count is taken. Too high costs a few connections
    /// of capacity; too low would eat into the runtime's reserve and end in the abort described in OpenFileLimit.
    /// </summary>
    public const int StartupAllowance = 96;

    /// <summary>Sets Limits:MaxOpenConnections when it was not configured; null where the limit is unknown (not Linux).</summary>
    public static OpenFileBudget? Apply(ServerSettings settings)
    {
        if (OpenFileLimit.ReadSoftLimit() is not { } limit || OpenFileLimit.CountOpen() is not { } open)
        {
            return null;
        }
        var capacity = OpenFileLimit.ConnectionCapacity(limit, open + StartupAllowance);
        var security = settings.Broker.Security;
        if (settings.MaxOpenConnectionsFromFileLimit)
        {
            security.MaxOpenConnections = capacity;
        }
        return new OpenFileBudget(limit, open, capacity, settings.MaxOpenConnectionsFromFileLimit, security.MaxOpenConnections);
    }

    /// <summary>
    /// Once every listener is started: counts the descriptors again and warns when start-up opened more than
    /// <see cref="StartupAllowance"/> (more listeners, TLS, management) and the decided limit therefore overlaps the
    /// runtime's reserve. The limit itself stays (options do not change once the broker runs).
    /// </summary>
    public void CheckAfterStart(ILogger logger)
    {
        if (OpenFileLimit.CountOpen() is { } now && now - Open > StartupAllowance && Configured > OpenFileLimit.ConnectionCapacity(Limit, now))
        {
            ServerLog.OpenFileAllowanceExceeded(logger, now - Open, StartupAllowance, now, Limit, Configured);
        }
    }

    /// <summary>Says what was decided: the capacity when it became the limit, a warning when the configured limit does not fit.</summary>
    public void Log(ILogger logger)
    {
        if (FromFileLimit)
        {
            ServerLog.OpenFileCapacity(logger, Limit, Open, Capacity);
        }
        else if (Configured == 0 || Configured > Capacity)
        {
            ServerLog.OpenFileLimitTooLow(logger, Configured == 0 ? "0 (no limit)" : Configured, Limit, Capacity);
        }
    }
}
