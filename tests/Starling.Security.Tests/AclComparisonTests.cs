using System.Net;
using Starling.Security.Tests.Infrastructure;
using Starling.Testing;

namespace Starling.Security.Tests;

/// <summary>
/// The same password and ACL files given to Mosquitto and to Starling: every case (who, what, which topic) must have
/// the same outcome on both, observed over the wire.
/// </summary>
public sealed class AclComparisonTests
{
    private const string Acl = """
        # anonymous clients
        topic read public/#
        topic write anon/in
        pattern read clients/%c/#
        pattern readwrite users/%u/#
        pattern read open/#

        user alice
        topic readwrite alice/#
        topic read shared/#
        topic deny shared/secret
        topic write inbox/+
        topic deny open/secret

        user bob
        topic read shared/+/data
        topic write bob/out
        topic bob/both

        user root
        topic readwrite #
        """;

    private static readonly (string User, string ClientId, string Kind, string FilterOrTopic, string Topic)[] s_cases =
    [
        ("alice", "alice-c", "recv", "shared/#", "shared/x"),
        ("alice", "alice-c", "recv", "shared/#", "shared/secret"),
        ("alice", "alice-c", "recv", "alice/+", "alice/q"),
        ("alice", "alice-c", "recv", "inbox/x", "inbox/x"),
        ("alice", "alice-c", "recv", "public/#", "public/p"),
        ("alice", "alice-c", "recv", "clients/alice-c/#", "clients/alice-c/x"),
        ("alice", "alice-c", "recv", "users/alice/x", "users/alice/x"),
        ("alice", "alice-c", "recv", "users/bob/x", "users/bob/x"),
        ("alice", "alice-c", "recv", "open/#", "open/secret"),
        ("alice", "alice-c", "recv", "open/#", "open/z"),
        ("alice", "alice-c", "recv", "#", "zzz/top"),
        ("alice", "alice-c", "pub", "alice/q", "alice/q"),
        ("alice", "alice-c", "pub", "inbox/x", "inbox/x"),
        ("alice", "alice-c", "pub", "inbox/x/y", "inbox/x/y"),
        ("alice", "alice-c", "pub", "shared/x", "shared/x"),
        ("alice", "alice-c", "pub", "public/p", "public/p"),
        ("alice", "alice-c", "pub", "users/alice/z", "users/alice/z"),
        ("alice", "alice-c", "pub", "users/bob/z", "users/bob/z"),
        ("alice", "a#b", "recv", "alice/q", "alice/q"),
        ("alice", "a#b", "recv", "users/alice/x", "users/alice/x"),
        ("bob", "bob-c", "recv", "shared/+/data", "shared/a/data"),
        ("bob", "bob-c", "recv", "shared/#", "shared/a/b/data"),
        ("bob", "bob-c", "pub", "bob/out", "bob/out"),
        ("bob", "bob-c", "pub", "bob/in", "bob/in"),
        ("bob", "bob-c", "pub", "bob/both", "bob/both"),
        ("bob", "bob-c", "recv", "bob/both", "bob/both"),
        ("", "anon-c", "recv", "public/#", "public/p"),
        ("", "anon-c", "recv", "clients/anon-c/x", "clients/anon-c/x"),
        ("", "anon-c", "recv", "users/+/y", "users/x/y"),
        ("", "anon-c", "pub", "anon/in", "anon/in"),
        ("", "anon-c", "pub", "public/p", "public/p"),
        ("carol", "carol-c", "recv", "open/z", "open/z"),
        ("carol", "carol-c", "recv", "shared/x", "shared/x"),
        ("carol", "carol-c", "pub", "users/carol/a", "users/carol/a"),
    ];

    private static readonly Dictionary<string, string> s_passwords = new() { ["alice"] = "a", ["bob"] = "b", ["carol"] = "c", ["root"] = "r" };

    [Fact]
    public async Task Allow_and_deny_outcomes_match_mosquitto()
    {
        using var dir = new TempDir();
        var passwordFile = dir.File("pw");
        var aclFile = dir.File("acl");
        var passwd = Tool.Require("mosquitto_passwd");
        foreach (var (user, password) in s_passwords)
        {
            var args = new List<string> { "-b", passwordFile, user, password };
            if (user == "alice")
            {
                args.Insert(0, "-c");
            }
            Assert.Equal(0, (await Tool.RunAsync(passwd, args)).Code);
        }
        await File.WriteAllTextAsync(aclFile, Acl);

        await using var mosquitto = await MosquittoProcess.StartAsync(dir.Path, "allow_anonymous true", $"password_file {passwordFile}", $"acl_file {aclFile}");
        await using var starling = await TestServer.StartAsync(new Dictionary<string, string?>()
        {
            ["Auth:PasswordFile"] = passwordFile,
            ["Auth:AclFile"] = aclFile,
            ["Auth:AllowAnonymous"] = "true",
        });

        var expected = await RunCasesAsync(mosquitto.Endpoint);
        var actual = await RunCasesAsync(starling.Endpoint);
        var differences = s_cases.Select((c, i) => (c, i)).Where(x => expected[x.i] != actual[x.i])
            .Select(x => $"{x.c.User}/{x.c.ClientId} {x.c.Kind} {x.c.FilterOrTopic} ({x.c.Topic}): mosquitto {expected[x.i]}, starling {actual[x.i]}").ToList();
        Assert.True(differences.Count == 0, "outcomes differ from mosquitto:\n" + string.Join("\n", differences));
        // The table is not trivial: both outcomes occur.
        Assert.Contains(true, actual);
        Assert.Contains(false, actual);
        Assert.True(starling.Server.Broker.SecurityCounters.PublishNotAuthorized > 0);
    }

    /// <summary>Per case: was the message delivered? (recv: the client subscribed and root published; pub: the client published and root watched.)</summary>
    private static async Task<bool[]> RunCasesAsync(IPEndPoint endpoint)
    {
        var results = new bool[s_cases.Length];
        await using var root = await RawMqttClient.ConnectOkAsync(endpoint, "root-observer", "root", "r");
        Assert.Equal([0], await root.SubscribeAsync(("#", 0)));
        for (var i = 0; i < s_cases.Length; i++)
        {
            var (user, clientId, kind, filterOrTopic, topic) = s_cases[i];
            await using var client = await RawMqttClient.ConnectOkAsync(endpoint, clientId, user.Length == 0 ? null : user,
                user.Length == 0 ? null : s_passwords[user]);
            await root.DrainPublishesAsync(TimeSpan.FromMilliseconds(50));
            if (kind == "recv")
            {
                await client.SubscribeAsync((filterOrTopic, 0));
                await root.PublishAsync(topic, "m" + i, qos: 1);
                results[i] = (await client.DrainPublishesAsync(TimeSpan.FromMilliseconds(300))).Contains(topic);
            }
            else
            {
                await client.PublishAsync(topic, "m" + i, qos: 1);
                results[i] = (await root.DrainPublishesAsync(TimeSpan.FromMilliseconds(300))).Contains(topic);
            }
        }
        return results;
    }
}
