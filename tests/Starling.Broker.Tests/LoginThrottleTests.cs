using System.Net;
using Microsoft.Extensions.Time.Testing;
using Starling.Broker.Security;

namespace Starling.Broker.Tests;

/// <summary>The failed-login throttle's own rules (issue 16 finding 8): windows, and the bound on what it remembers.</summary>
public sealed class LoginThrottleTests
{
    private static readonly IPAddress s_address = IPAddress.Parse("192.0.2.1");

    [Fact]
    public void A_flood_of_new_addresses_and_usernames_stays_within_the_configured_table_size()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var throttle = new LoginThrottle(new SecurityOptions { MaxTrackedFailedLogins = 100 }, time);
        for (var i = 0; i < 10_000; i++)
        {
            throttle.RecordFailure(new IPAddress(BitConverter.GetBytes(i)), "user-" + i);
        }
        Assert.Equal(200, throttle.TrackedCount); // 100 addresses + 100 usernames, never more
    }

    [Fact]
    public void Limits_apply_within_the_window_and_end_with_it()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var throttle = new LoginThrottle(new SecurityOptions { MaxFailedLoginsPerAddress = 2, MaxFailedLoginsPerUser = 3, FailedLoginWindowSeconds = 60 }, time);
        throttle.RecordFailure(s_address, "alice");
        Assert.Null(throttle.Check(s_address, "alice"));
        throttle.RecordFailure(s_address, "alice");
        Assert.Equal("Limits:MaxFailedLoginsPerAddress", throttle.Check(s_address, "alice"));
        Assert.Null(throttle.Check(IPAddress.Loopback, "bob"));
        throttle.RecordFailure(IPAddress.Loopback, "alice");
        Assert.Equal("Limits:MaxFailedLoginsPerUser", throttle.Check(IPAddress.Loopback, "alice"));
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.NotNull(throttle.Check(s_address, null));
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Null(throttle.Check(s_address, "alice"));
        // A success clears the username's count, not the address's.
        throttle.RecordFailure(s_address, "alice");
        throttle.RecordFailure(s_address, "alice");
        throttle.RecordSuccess("alice");
        Assert.Equal("Limits:MaxFailedLoginsPerAddress", throttle.Check(s_address, "carol"));
        Assert.Null(throttle.Check(IPAddress.Loopback, "alice"));
    }
}
