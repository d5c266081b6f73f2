using System.Text;
using Microsoft.Extensions.Time.Testing;
using Starling.Security.Tests.Infrastructure;
using Starling.Testing;

namespace Starling.Security.Tests;

/// <summary>
/// A delayed will restored from the store after a restart (issue 16 review): nobody has authenticated for its session
/// since, so it is authorized against the current ACL for the session's stored owner; before, the restored session
/// had no permissions object, which counted as "everything allowed", and the will went out whatever the ACL said.
/// Real server with the SQLite store, a fake clock for the Will Delay Interval.
/// </summary>
public sealed class RestoredWillTests
{
    private const string Allowing = """
        user u
        topic readwrite w/#

        user watcher
        topic readwrite w/#
        """;

    private const string Revoking = """
        user u
        topic readwrite elsewhere/#

        user watcher
        topic readwrite w/#
        """;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_restored_delayed_will_is_published_only_if_the_current_ACL_lets_its_owner_publish_MQTT_3_1_3_9(bool stillAllowed)
    {
        using var dir = new TempDir();
        var data = dir.File("data");
        var password = Encoding.UTF8.GetBytes("pw");
        await File.WriteAllTextAsync(dir.File("pw"), $"u:{PasswordHash.Create("pw")}\nwatcher:{PasswordHash.Create("pw")}\n");
        await File.WriteAllTextAsync(dir.File("acl"), Allowing);
        var config = new Dictionary<string, string?> { ["Auth:PasswordFile"] = dir.File("pw"), ["Auth:AclFile"] = dir.File("acl") };
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);

        await using (var server = await TestServer.StartWithStoreAsync(data, config, time))
        {
            var client = await server.Connect5Async(new Connect5
            {
                ClientId = "u-device",
                UserName = "u",
                Password = password,
                Properties = new Props().U32(Prop.SessionExpiryInterval, 3600),
                Will = new WillSpec5("w/x", "u-gone", qos: 1) { Properties = new Props().U32(Prop.WillDelayInterval, 3600) },
            });
            client.CloseAbruptly();
            await client.DisposeAsync();
            await Eventually.TrueAsync(() => server.Server.Broker.ConnectedClients == 0, "the broker to see the connection end and schedule the will");
        }

        if (!stillAllowed)
        {
            await File.WriteAllTextAsync(dir.File("acl"), Revoking);
        }
        await using (var server = await TestServer.StartWithStoreAsync(data, config, time))
        {
            await using var watcher = await server.ConnectAsync(new ConnectSpec { ClientId = "watcher", UserName = "watcher", Password = password, KeepAlive = 0 }); // outlives the clock jump
            await watcher.SubscribeGrantedAsync(("w/#", 1));
            time.Advance(TimeSpan.FromSeconds(3601)); // the will delay (and the session expiry) pass: the Heartbeat publishes or drops it

            if (stillAllowed)
            {
                Assert.Equal("u-gone", (await watcher.ExpectPublishAsync()).Text);
                Assert.Equal(0, server.Server.Broker.SecurityCounters.WillNotAuthorized);
            }
            else
            {
                await Eventually.TrueAsync(() => server.Server.Broker.SecurityCounters.WillNotAuthorized == 1, "the restored will to be refused");
                // Nothing came before the marker: the will was dropped, not delivered.
                await watcher.PublishAsync("w/marker", "marker", 1);
                Assert.Equal("marker", (await watcher.ExpectPublishAsync()).Text);
                Assert.NotNull(await server.Logs.WaitForAsync(TimeSpan.FromSeconds(2), "will of client 'u-device' to 'w/x' not published"));
            }
            Assert.Null(server.Server.Broker.GetSession("u-device"));
        }
    }
}
