using System.Net;

namespace Starling.Broker.Tests.Sessions;

/// <summary>
/// What Limits:MaxPersistentSessionsPerAddress counts an anonymous client's persistent sessions under, and how that
/// recorded owner compares for session ownership (issue 16 review, finding 1).
/// </summary>
public class PersistentSessionOwnerTests
{
    [Theory]
    [InlineData("10.1.2.3", "10.1.2.3")]
    [InlineData("::ffff:10.1.2.3", "10.1.2.3")] // an IPv4 client on a dual-stack listener
    [InlineData("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64")] // one /64: rotating addresses inside it does not help
    [InlineData("2001:db8:1:2::1", "2001:db8:1:2::/64")]
    public void Anonymous_sessions_are_counted_per_IPv4_address_and_per_IPv6_64_prefix(string remote, string expected)
        => Assert.Equal(expected, ClientAdmission.OwnerAddress(new IPEndPoint(IPAddress.Parse(remote), 50000)));

    [Fact]
    public void Every_anonymous_owner_form_is_one_identity_for_ownership_and_usernames_stay_distinct()
    {
        var key = SessionIdentity.OwnerKey(SessionIdentity.Anonymous, "10.1.2.3");
        Assert.Equal("anonymous@10.1.2.3", key);
        Assert.True(SessionIdentity.SameOwner(key, SessionIdentity.Anonymous));
        Assert.True(SessionIdentity.SameOwner(key, "anonymous@10.9.9.9"));
        Assert.False(SessionIdentity.SameOwner(key, "user:anonymous@10.1.2.3"));
        Assert.Equal("user:alice", SessionIdentity.OwnerKey("user:alice", "10.1.2.3"));
        Assert.False(SessionIdentity.IsAnonymous("user:anonymous"));
    }
}
