using System.Security.Cryptography;
using System.Text;
using Starling.Broker.Security.EnhancedAuth;
using Starling.Protocol;

namespace Starling.Security;

/// <summary>The hash function of a SCRAM method: SCRAM-SHA-256 or SCRAM-SHA-512.</summary>
public enum ScramHash : byte
{
    Sha256,
    Sha512,
}

/// <summary>
/// SCRAM-SHA-256 / SCRAM-SHA-512 (RFC 5802, RFC 7677) as an MQTT 5 enhanced authentication method, against the
/// password file: SCRAM-SHA-512 uses <c>$7$</c> entries (their PBKDF2-HMAC-SHA512 64-byte hash is exactly
/// SaltedPassword = Hi(password, salt, i)), SCRAM-SHA-256 uses Starling's <c>$s256$</c> entries (StoredKey/ServerKey).
/// No channel binding (gs2 header <c>n,,</c>, or <c>y,,</c>). The server never runs PBKDF2: every step costs a few
/// HMACs whether the user exists or not, and an unknown user (or one whose entry does not fit the method) gets a
/// server-first message of the usual shape with a fake salt derived from a server secret, then fails at the proof.
/// Wrong password and unknown user: 0x86; a malformed or out-of-order SCRAM message: 0x87.
/// </summary>
public sealed class ScramAuthenticator : IEnhancedAuthenticator
{
    private const int NonceBytes = 24;
    private readonly PasswordFileAuthenticator _passwords;
    private readonly byte[] _secret;

    /// <param name="hash">SHA-256 or SHA-512.</param>
    /// <param name="passwords">The user store (its current file is read at each exchange, so reloads apply).</param>
    /// <param name="serverSecret">At least 32 random bytes; fake salts for unknown users are derived from it.</param>
    public ScramAuthenticator(ScramHash hash, PasswordFileAuthenticator passwords, byte[] serverSecret)
    {
        ArgumentNullException.ThrowIfNull(serverSecret);
        if (serverSecret.Length < 32)
        {
            throw new ArgumentException("the server secret must have at least 32 bytes", nameof(serverSecret));
        }
        Hash = hash;
        _passwords = passwords;
        _secret = serverSecret;
    }

    public ScramHash Hash { get; }

    public string Method => Hash == ScramHash.Sha256 ? "SCRAM-SHA-256" : "SCRAM-SHA-512";

    internal int HashLength => Hash == ScramHash.Sha256 ? 32 : 64;

    public IEnhancedAuthSession Start(EnhancedAuthContext context) => new Session(this, context);

    /// <summary>Still in the password file (a reload that removed the user ends its SCRAM connections).</summary>
    public bool IsStillValid(string? username) => _passwords.IsStillValid(username);

    internal byte[] Hmac(ReadOnlySpan<byte> key, ReadOnlySpan<byte> data)
        => Hash == ScramHash.Sha256 ? HMACSHA256.HashData(key, data) : HMACSHA512.HashData(key, data);

    internal byte[] Digest(ReadOnlySpan<byte> data) => Hash == ScramHash.Sha256 ? SHA256.HashData(data) : SHA512.HashData(data);

    /// <summary>
    /// Salt, iterations, StoredKey, ServerKey of <paramref name="user"/>; a deterministic fake set (known = false) when
    /// the user is unknown or the entry does not fit the method. Every path does the same hashing, so the time taken
    /// does not tell them apart.
    /// </summary>
    internal (byte[] Salt, int Iterations, byte[] StoredKey, byte[] ServerKey, bool Known) Credentials(string user)
    {
        // Fake: a salt of the usual length from HMAC(secret, method/user), the usual iteration count, keys nobody matches.
        var seed = HMACSHA512.HashData(_secret, Encoding.UTF8.GetBytes(Method + "\0" + user));
        var salt = seed[..(Hash == ScramHash.Sha256 ? PasswordHash.ScramSha256SaltLength : PasswordHash.SaltLength)];
        var iterations = Hash == ScramHash.Sha256 ? PasswordHash.ScramSha256Iterations : PasswordHash.DefaultIterations;
        var salted = Hmac(seed, "Salted"u8);
        byte[]? keys = null;
        var known = false;
        if (_passwords.File.TryGetEntry(user, out var kind, out var entryIterations, out var entrySalt, out var hash))
        {
            if (Hash == ScramHash.Sha512 && kind == 7 && hash.Length == 64)
            {
                // A $7$ hash is SaltedPassword = Hi(password, salt, i) of SCRAM-SHA-512.
                (salt, iterations, salted, known) = (entrySalt, entryIterations, hash, true);
            }
            else if (Hash == ScramHash.Sha256 && kind == PasswordHash.ScramSha256Kind)
            {
                (salt, iterations, keys, known) = (entrySalt, entryIterations, hash, true);
            }
        }
        var storedKey = Digest(Hmac(salted, "Client Key"u8));
        var serverKey = Hmac(salted, "Server Key"u8);
        return keys is null ? (salt, iterations, storedKey, serverKey, known) : (salt, iterations, keys[..32], keys[32..], known);
    }

    private sealed class Session(ScramAuthenticator owner, EnhancedAuthContext context) : IEnhancedAuthSession
    {
        private int _state;
        private string _gs2Header = "";
        private string _clientFirstBare = "";
        private string _serverFirst = "";
        private string _nonce = "";
        private string _user = "";
        private byte[] _storedKey = [];
        private byte[] _serverKey = [];
        private bool _known;

        public EnhancedAuthStep Step(ReadOnlySpan<byte> clientData)
        {
            string message;
            try
            {
                message = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(clientData);
            }
            catch (DecoderFallbackException)
            {
                return Malformed("not UTF-8");
            }
            var state = _state;
            _state = 99;
            return state switch
            {
                0 => ClientFirst(message),
                1 => ClientFinal(message),
                _ => Malformed("unexpected message after the exchange ended"),
            };
        }

        private EnhancedAuthStep ClientFirst(string message)
        {
            // gs2-header: cbind flag ("n" or "y"; "p=" asks for channel binding, which is not offered), no authzid.
            if (!(message.StartsWith("n,,", StringComparison.Ordinal) || message.StartsWith("y,,", StringComparison.Ordinal)))
            {
                return Malformed(message.StartsWith("p=", StringComparison.Ordinal)
                    ? "channel binding requested but not supported"
                    : "client-first-message must start with 'n,,' (no channel binding, no authzid)");
            }
            _gs2Header = message[..3];
            _clientFirstBare = message[3..];
            var attributes = _clientFirstBare.Split(',');
            if (attributes.Length < 2 || !attributes[0].StartsWith("n=", StringComparison.Ordinal) || !attributes[1].StartsWith("r=", StringComparison.Ordinal))
            {
                return Malformed("client-first-message-bare must be 'n=user,r=nonce'");
            }
            if (DecodeSaslName(attributes[0][2..]) is not { Length: > 0 } user)
            {
                return Malformed("bad username encoding");
            }
            var clientNonce = attributes[1][2..];
            if (clientNonce.Length == 0 || !IsPrintable(clientNonce))
            {
                return Malformed("bad client nonce");
            }
            if (context.ConnectUsername is { } connectUser && connectUser != user)
            {
                return EnhancedAuthStep.Fail(ReasonCode.NotAuthorized, $"SCRAM user '{user}' differs from the CONNECT's username '{connectUser}'");
            }
            _user = user;
            var (salt, iterations, storedKey, serverKey, known) = owner.Credentials(user);
            (_storedKey, _serverKey, _known) = (storedKey, serverKey, known);
            _nonce = clientNonce + Convert.ToBase64String(RandomNumberGenerator.GetBytes(NonceBytes));
            _serverFirst = $"r={_nonce},s={Convert.ToBase64String(salt)},i={iterations}";
            _state = 1;
            // The user named here is the one being guessed: the broker throttles and counts failures per this name,
            // whatever the CONNECT's User Name was (none, or another one each time).
            return EnhancedAuthStep.Continue(Encoding.UTF8.GetBytes(_serverFirst), subject: user);
        }

        private EnhancedAuthStep ClientFinal(string message)
        {
            var proofAt = message.LastIndexOf(",p=", StringComparison.Ordinal);
            if (proofAt < 0)
            {
                return Malformed("client-final-message without a proof");
            }
            var withoutProof = message[..proofAt];
            var attributes = withoutProof.Split(',');
            if (attributes.Length < 2 || !attributes[0].StartsWith("c=", StringComparison.Ordinal) || !attributes[1].StartsWith("r=", StringComparison.Ordinal))
            {
                return Malformed("client-final-message must be 'c=..,r=..,p=..'");
            }
            // c= is base64 of the gs2 header ("biws" for "n,,"): no channel binding data.
            if (attributes[0][2..] != Convert.ToBase64String(Encoding.ASCII.GetBytes(_gs2Header)))
            {
                return Malformed("channel binding header does not match the client-first-message");
            }
            if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(attributes[1][2..]), Encoding.UTF8.GetBytes(_nonce)))
            {
                return Malformed("nonce does not match the server's");
            }
            byte[] proof;
            try
            {
                proof = Convert.FromBase64String(message[(proofAt + 3)..]);
            }
            catch (FormatException)
            {
                return Malformed("proof is not base64");
            }
            if (proof.Length != owner.HashLength)
            {
                return Malformed("proof has the wrong length");
            }
            var authMessage = Encoding.UTF8.GetBytes(_clientFirstBare + "," + _serverFirst + "," + withoutProof);
            var clientSignature = owner.Hmac(_storedKey, authMessage);
            for (var i = 0; i < proof.Length; i++)
            {
                proof[i] ^= clientSignature[i];
            }
            var matches = CryptographicOperations.FixedTimeEquals(owner.Digest(proof), _storedKey);
            var serverSignature = owner.Hmac(_serverKey, authMessage);
            if (!matches || !_known)
            {
                return EnhancedAuthStep.Fail(ReasonCode.BadUserNameOrPassword, $"{owner.Method}: wrong password or unknown user '{_user}'", _user);
            }
            return EnhancedAuthStep.Success(Encoding.UTF8.GetBytes("v=" + Convert.ToBase64String(serverSignature)), _user);
        }

        private EnhancedAuthStep Malformed(string why) => EnhancedAuthStep.Fail(ReasonCode.NotAuthorized, $"{owner.Method}: {why}");

        private static bool IsPrintable(string s)
        {
            foreach (var c in s)
            {
                if (c is < '!' or > '~' or ',')
                {
                    return false;
                }
            }
            return true;
        }

        /// <summary>saslname: "=2C" is ',' and "=3D" is '='; any other '=' is an error (null).</summary>
        private static string? DecodeSaslName(string s)
        {
            var b = new StringBuilder(s.Length);
            for (var i = 0; i < s.Length; i++)
            {
                if (s[i] != '=')
                {
                    b.Append(s[i]);
                    continue;
                }
                if (i + 2 >= s.Length)
                {
                    return null;
                }
                var code = s.Substring(i + 1, 2);
                if (code == "2C")
                {
                    b.Append(',');
                }
                else if (code == "3D")
                {
                    b.Append('=');
                }
                else
                {
                    return null;
                }
                i += 2;
            }
            return b.ToString();
        }
    }
}
