namespace Starling.Server;

/// <summary>
/// Start-up failed for a reason the operator can fix (a bad option, a bad configuration value, a port in use).
/// The message is one paragraph meant for stderr as it is; <see cref="ExitCode"/> is the process exit code.
/// </summary>
public sealed class StarlingStartupException : Exception
{
    public StarlingStartupException() : this("Starling could not start.") { }

    public StarlingStartupException(string message) : base(message) { }

    public StarlingStartupException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>2 for usage and configuration errors.</summary>
    public int ExitCode { get; init; } = 2;
}
