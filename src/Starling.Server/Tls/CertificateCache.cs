using System.Security.Cryptography.X509Certificates;
using Starling.Server.Logging;

namespace Starling.Server.Tls;

/// <summary>
/// The server certificate of one TLS listener, read from its PEM files and read again when they change (debounced),
/// so a renewed certificate is used by new connections without a restart. A file that cannot be read keeps the old
/// certificate and logs why.
/// </summary>
internal sealed class CertificateCache : IDisposable
{
    private readonly TlsSettings _settings;
    private readonly List<FileSystemWatcher> _watchers = [];
    private readonly Lock _gate = new();
    private ILogger? _logger;
    private Timer? _debounce;
    private volatile X509Certificate2 _current;

    public CertificateCache(TlsSettings settings)
    {
        _settings = settings;
        _current = Load(settings);
    }

    public X509Certificate2 Current => _current;

    /// <summary>Loads the certificate and its private key; throws with a message naming the files.</summary>
    public static X509Certificate2 Load(TlsSettings settings)
    {
        var cert = X509Certificate2.CreateFromPemFile(settings.CertFile, settings.KeyFile);
        if (!cert.HasPrivateKey)
        {
            throw new InvalidOperationException($"{settings.KeyFile} does not hold the private key of {settings.CertFile}");
        }
        return cert;
    }

    /// <summary>Starts watching the certificate and key files.</summary>
    public void Watch(ILogger logger)
    {
        _logger = logger;
        foreach (var directory in new[] { _settings.CertFile, _settings.KeyFile }.Select(f => Path.GetDirectoryName(Path.GetFullPath(f))!).Distinct())
        {
            var watcher = new FileSystemWatcher(directory) { NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime };
            watcher.Changed += OnChanged;
            watcher.Created += OnChanged;
            watcher.Renamed += OnChanged;
            watcher.EnableRaisingEvents = true;
            _watchers.Add(watcher);
        }
    }

    private void OnChanged(object sender, FileSystemEventArgs e)
    {
        var full = Path.GetFullPath(e.FullPath);
        if (full != Path.GetFullPath(_settings.CertFile) && full != Path.GetFullPath(_settings.KeyFile))
        {
            return;
        }
        lock (_gate)
        {
            _debounce ??= new Timer(_ => Reload(), null, Timeout.Infinite, Timeout.Infinite);
            _debounce.Change(500, Timeout.Infinite);
        }
    }

    /// <summary>Reads the files again now; keeps the current certificate when they are unusable.</summary>
    public bool Reload()
    {
        try
        {
            var cert = Load(_settings);
            var old = _current;
            _current = cert;
            if (_logger is not null)
            {
                ServerLog.TlsCertificateReloaded(_logger, _settings.ListenerName, _settings.CertFile, cert.Subject, cert.NotAfter.ToUniversalTime());
            }
            // The old certificate may still be in use by a handshake in progress: let the GC finalize it.
            GC.KeepAlive(old);
            return true;
        }
        catch (Exception ex)
        {
            if (_logger is not null)
            {
                ServerLog.TlsCertificateReloadFailed(_logger, _settings.ListenerName, _settings.CertFile, _settings.KeyFile, ex.Message);
            }
            return false;
        }
    }

    public void Dispose()
    {
        foreach (var w in _watchers)
        {
            w.Dispose();
        }
        lock (_gate)
        {
            _debounce?.Dispose();
        }
    }
}
