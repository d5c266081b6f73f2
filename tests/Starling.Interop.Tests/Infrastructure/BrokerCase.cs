namespace Starling.Interop.Tests.Infrastructure;

/// <summary>
/// Runs one test body against a fresh broker and always tears it down. When the body fails, the failure message is
/// extended with the broker's last log lines; a teardown failure (Starling logged an error) never hides the body's.
/// </summary>
public static class BrokerCase
{
    public static async Task RunAsync(string target, Func<TestBroker, Task> body, BrokerSettings? settings = null)
    {
        var broker = await TestBroker.StartAsync(target, settings);
        Exception? failure = null;
        try
        {
            await body(broker);
        }
        catch (Exception e)
        {
            failure = e;
        }

        string diagnostics = broker.Diagnostics();
        try
        {
            await broker.DisposeAsync();
        }
        catch (Exception teardown) when (failure is not null)
        {
            diagnostics += "\n  teardown also failed: " + teardown.Message;
        }

        if (failure is not null)
        {
            throw new BrokerCaseException($"{failure.GetType().Name}: {failure.Message}\n  broker: {broker}{diagnostics}", failure);
        }
    }
}

/// <summary>A test failure with the broker's log attached; the original exception is the inner one.</summary>
public sealed class BrokerCaseException(string message, Exception inner) : Exception(message, inner);
