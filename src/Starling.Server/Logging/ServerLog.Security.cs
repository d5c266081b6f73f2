namespace Starling.Server.Logging;

/// <summary>Start-up warnings about the security configuration (event ids 4160-4169).</summary>
internal static partial class ServerLog
{
    [LoggerMessage(EventId = 4160, Level = LogLevel.Warning, Message = "The password file {Path} (Auth:PasswordFile) is readable by group or others (mode {Mode}): "
        + "its hashes can be attacked offline by anyone who can read it. Restrict it with 'chmod 600 {Path}' (owned by the user that runs the broker)")]
    public static partial void PasswordFileReadableByOthers(ILogger logger, string path, string mode);

    [LoggerMessage(EventId = 4161, Level = LogLevel.Warning, Message = "Auth:AllowHashEquivalentMethods is on: SCRAM-SHA-512 accepts the password file's $7$ hashes as "
        + "password-equivalent secrets, so a copy of {Path} is enough to log in as every user. Keep the file private, or use SCRAM-SHA-256 ($s256$ entries) instead")]
    public static partial void HashEquivalentMethodsEnabled(ILogger logger, string path);

    [LoggerMessage(EventId = 4162, Level = LogLevel.Warning, Message = "Auth:TrustUnverifiedUsernames is on: the ACL file {Path} has user blocks ({Users}) but no authentication "
        + "is configured, so any client can claim one of those usernames without a password and get its permissions")]
    public static partial void TrustingUnverifiedUsernames(ILogger logger, string path, string users);
}
