namespace Starling.Testing;

/// <summary>
/// Awaits a condition that becomes true on another thread (the broker noticed a close, a heartbeat expired a session):
/// polls it until it holds, failing the test when the time is up. A signal with a timeout, not a fixed sleep: it
/// returns as soon as the condition holds.
/// </summary>
public static class Eventually
{
    /// <summary>Polls <paramref name="get"/> until <paramref name="until"/> holds for its value; returns that value.</summary>
    public static async Task<T> GetAsync<T>(Func<Task<T>> get, Func<T, bool> until, string what, int timeoutMs = 10_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (true)
        {
            var value = await get();
            if (until(value))
            {
                return value;
            }
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"timed out waiting for {what}; last value: {value}");
            }
            await Task.Delay(20);
        }
    }

    /// <summary>Polls <paramref name="condition"/> until it is true.</summary>
    public static Task TrueAsync(Func<bool> condition, string what, int timeoutMs = 10_000)
        => GetAsync(() => Task.FromResult(condition()), v => v, what, timeoutMs);
}
