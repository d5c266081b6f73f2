using Starling.Broker.Security;
using Starling.Protocol;

namespace Starling.Security;

/// <summary>
/// Usernames and passwords from a Mosquitto password file. A user who is not in the file is left to the next
/// authenticator (and refused with 0x86 when none accepts); a user in the file must give the right password.
/// </summary>
public sealed class PasswordFileAuthenticator(PasswordFile file) : IAuthenticator
{
    private volatile PasswordFile _file = file;

    public string Name => "password file";

    public PasswordFile File => _file;

    /// <summary>
    /// Swaps in a newly read file; new CONNECTs use it, and the broker then re-checks connected clients
    /// (<see cref="IsStillValid"/>, called through MqttBroker.RecheckCredentials by the reloader).
    /// </summary>
    public void Replace(PasswordFile file) => _file = file;

    public AuthenticationResult Authenticate(in AuthenticationRequest request)
    {
        if (request.Username is not { } username)
        {
            return AuthenticationResult.NotApplicable;
        }
        var file = _file;
        if (!file.Contains(username))
        {
            // Left to the next authenticator (or refused as unknown), after the cost of a real check: an unknown name
            // answered sooner than a wrong password would tell which names exist.
            file.VerifyDummy(request.Password);
            return AuthenticationResult.NotApplicable;
        }
        if (!request.HasPassword)
        {
            file.VerifyDummy(request.Password);
            return AuthenticationResult.Refuse(ReasonCode.BadUserNameOrPassword, $"user '{username}' gave no password");
        }
        return file.Verify(username, request.Password)
            ? AuthenticationResult.Allow()
            : AuthenticationResult.Refuse(ReasonCode.BadUserNameOrPassword, $"wrong password for user '{username}'");
    }

    /// <summary>A client this file accepted stays valid while its user is still in the (reloaded) file.</summary>
    public bool IsStillValid(string? username) => username is not null && _file.Contains(username);
}
