using Microsoft.Extensions.Time.Testing;

namespace Starling.Broker.Tests.Sessions;

/// <summary>
/// Limits:MaxTakeoversPerMinute counts per client id AND remote address: whoever used up the window from one address
/// cannot lock the real client, connecting from another, out of its own client id (security review of issue 16).
/// </summary>
public class TakeoverThrottleTests
{
    [Fact]
    public void A_client_id_exhausted_from_one_address_can_still_be_taken_over_from_another()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var throttle = new TakeoverThrottle(clock, 2);
        Assert.True(throttle.TryTakeOver("dev1", "10.0.0.66"));
        Assert.True(throttle.TryTakeOver("dev1", "10.0.0.66"));
        Assert.False(throttle.TryTakeOver("dev1", "10.0.0.66")); // the attacker's address is throttled

        Assert.True(throttle.TryTakeOver("dev1", "10.0.0.7")); // the device itself is not
        Assert.True(throttle.TryTakeOver("other", "10.0.0.66")); // nor other ids from the same address

        clock.Advance(TimeSpan.FromSeconds(61));
        throttle.Prune();
        Assert.True(throttle.TryTakeOver("dev1", "10.0.0.66"));
    }
}
