using System.Runtime.InteropServices;
using Starling.Security;
using Starling.Server.Logging;

namespace Starling.Server.Security;

/// <summary>
/// Reads the password and ACL files again on SIGHUP and when they change on disk (debounced): new CONNECTs use the new
/// password file, connected clients whose user is no longer in it are disconnected (MqttBroker.RecheckCredentials),
/// connected clients' ACLs (and their wills, checked when published) change on their next check. A file that no
/// longer parses is not used: the old one stays in force and the log says why.
/// </summary>
internal sealed class AuthFileReloader : IDisposable
{
    private static readonly TimeSpan s_debounce = TimeSpan.FromMilliseconds(300);
    private readonly SecuritySettings _settings;
    private readonly ILogger _logger;
    private readonly List<FileSystemWatcher> _watchers = [];
    private readonly PosixSignalRegistration? _sighup;
    private readonly Timer _timer;
    private readonly Lock _gate = new();
    private readonly Starling.Broker.MqttBroker _broker;

    public AuthFileReloader(SecuritySettings settings, ILogger logger, Starling.Broker.MqttBroker broker)
    {
        _settings = settings;
        _broker = broker;
        _logger = logger;
        _timer = new Timer(_ => ReloadAll("file change"), null, Timeout.Infinite, Timeout.Infinite);
        foreach (var path in Files())
        {
            var full = Path.GetFullPath(path);
            var watcher = new FileSystemWatcher(Path.GetDirectoryName(full)!, Path.GetFileName(full))
            {
                NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime,
            };
            watcher.Changed += (_, _) => Schedule();
            watcher.Created += (_, _) => Schedule();
            watcher.Renamed += (_, _) => Schedule();
            watcher.EnableRaisingEvents = true;
            _watchers.Add(watcher);
        }
        if (!OperatingSystem.IsWindows())
        {
            _sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true;
                ReloadAll("SIGHUP");
            });
        }
    }

    /// <summary>Successful reloads so far (tests wait on it).</summary>
    public int ReloadCount => Volatile.Read(ref _reloads);

    /// <summary>Failed reloads so far.</summary>
    public int FailureCount => Volatile.Read(ref _failures);

    private int _reloads;
    private int _failures;

    private IEnumerable<string> Files()
    {
        if (_settings.Passwords is { } p)
        {
            yield return p.File.Path;
        }
        if (_settings.Acl is { } a)
        {
            yield return a.File.Path;
        }
    }

    private void Schedule() => _timer.Change(s_debounce, Timeout.InfiniteTimeSpan);

    /// <summary>Reads both files now.</summary>
    public void ReloadAll(string why)
    {
        lock (_gate)
        {
            if (_settings.Passwords is { } passwords)
            {
                Reload(why, "password file", passwords.File.Path, path =>
                {
                    var file = PasswordFile.Load(path);
                    passwords.Replace(file);
                    var revoked = _broker.RecheckCredentials();
                    return $"{file.Count} users, {revoked} connected clients no longer valid";
                });
            }
            if (_settings.Acl is { } acl)
            {
                Reload(why, "ACL file", acl.File.Path, path =>
                {
                    var file = AclFile.Load(path);
                    acl.Replace(file);
                    return $"{file.Anonymous.Count + file.Patterns.Count} anonymous and pattern rules";
                });
            }
        }
    }

    private void Reload(string why, string what, string path, Func<string, string> load)
    {
        try
        {
            var summary = load(path);
            Interlocked.Increment(ref _reloads);
            ServerLog.AuthFileReloaded(_logger, what, path, why, summary);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            Interlocked.Increment(ref _failures);
            ServerLog.AuthFileReloadFailed(_logger, what, path, why, ex.Message);
        }
    }

    public void Dispose()
    {
        _sighup?.Dispose();
        foreach (var w in _watchers)
        {
            w.Dispose();
        }
        _timer.Dispose();
    }
}
