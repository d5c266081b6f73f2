using Microsoft.Extensions.Time.Testing;
using Starling.Testing;

namespace Starling.Broker.Tests.Limits;

/// <summary>
/// The state-limit log line quotes client-supplied topics and client ids: escaped, so a topic cannot forge a log line
/// (issue 16 finding 12; found by the security review in the LimitLog line).
/// </summary>
public class LimitLogTests
{
    [Fact]
    public void A_topic_with_a_newline_cannot_forge_a_log_line()
    {
        using var logs = new CapturingLoggerProvider();
        var log = new LimitLog(logs.CreateLogger("Starling.Broker"), new FakeTimeProvider(), TimeSpan.FromSeconds(10), new BrokerOptions());
        log.Write(LimitCause.RetainedMessages, "t\n2026-12-07 info: FAKE admin logged in\u001b[2J");

        var line = Assert.Single(logs.Messages);
        Assert.DoesNotContain('\n', line);
        Assert.DoesNotContain('\u001b', line);
        Assert.Contains("t\\n2026-12-07", line, StringComparison.Ordinal);
    }
}
