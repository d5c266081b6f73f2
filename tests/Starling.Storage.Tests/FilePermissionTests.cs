using Starling.Broker.Storage;
using Starling.Storage.Sqlite;
using Starling.Storage.Tests.Infrastructure;
using Starling.Testing;

namespace Starling.Storage.Tests;

/// <summary>
/// Issue 16, finding 4 (file part): the store holds every session, queued and retained message, so a new data directory
/// is owner-only (0700) and the store's files are 0600; a data directory others can read is reported once at start-up.
/// Unix only (File.GetUnixFileMode); on Windows these tests return at once.
/// </summary>
public sealed class FilePermissionTests
{
    private const UnixFileMode Rwx = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode Rw = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    [Fact]
    public void A_new_data_directory_is_0700_and_the_store_files_are_0600()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        using var parent = new TempDirectory();
        var directory = Path.Combine(parent.Path, "data");
        using (var store = SqliteStore.Open(directory))
        {
            Assert.Null(store.LooseAccess);
            store.Apply([StoreOperation.UpsertSession(new StoredSession("a", 60, null))]);
            Assert.Equal(Rwx, File.GetUnixFileMode(directory));
            var files = Directory.GetFiles(directory);
            Assert.Contains(Path.Combine(directory, SqliteStore.FileName), files);
            Assert.Contains(Path.Combine(directory, SqliteStore.FileName + "-wal"), files); // the write-ahead log exists while open
            foreach (var f in files)
            {
                Assert.True(File.GetUnixFileMode(f) == Rw, $"{f} is {File.GetUnixFileMode(f)}");
            }
        }
        foreach (var f in Directory.GetFiles(directory))
        {
            Assert.True(File.GetUnixFileMode(f) == Rw, $"{f} is {File.GetUnixFileMode(f)} after close");
        }
    }

    [Fact]
    public async Task The_server_warns_once_when_the_data_directory_is_readable_by_others()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        using var dir = new TempDirectory();
        File.SetUnixFileMode(dir.Path, Rwx | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        await using (var server = await TestServer.StartWithStoreAsync(dir.Path))
        {
            var warnings = server.Logs.Lines.Where(l => l.Contains("can be read by other users", StringComparison.Ordinal)).ToList();
            Assert.Single(warnings);
            Assert.Contains(dir.Path, warnings[0], StringComparison.Ordinal);
            Assert.Contains("0755", warnings[0], StringComparison.Ordinal);
        }

        File.SetUnixFileMode(dir.Path, Rwx);
        await using (var server = await TestServer.StartWithStoreAsync(dir.Path))
        {
            Assert.DoesNotContain(server.Logs.Lines, l => l.Contains("can be read by other users", StringComparison.Ordinal));
        }
    }
}
