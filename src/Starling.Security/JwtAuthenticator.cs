using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Starling.Broker.Security;
using Starling.Protocol;

namespace Starling.Security;

/// <summary>
/// Bearer tokens (JWT, RFC 7519) in the CONNECT password. The header's "alg" must be the configured one ("none" and
/// any other algorithm are refused, so a token cannot choose how it is checked); "exp" is required; "nbf", "iss" and
/// "aud" are checked; the "sub" claim (or the configured <see cref="JwtOptions.UsernameClaim"/>) is required and becomes the username; topic claims limit what the client may do.
/// </summary>
public sealed class JwtAuthenticator : IAuthenticator
{
    private static readonly JsonDocumentOptions s_json = new() { MaxDepth = 8 };
    private readonly JwtOptions _options;
    private readonly TimeProvider _time;

    public JwtAuthenticator(JwtOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Algorithm == JwtAlgorithm.HS256 && (options.Secret is null || options.Secret.Length < 32))
        {
            throw new ArgumentException("HS256 needs a secret of at least 32 bytes", nameof(options));
        }
        if (options.Algorithm == JwtAlgorithm.RS256 && options.PublicKey is null)
        {
            throw new ArgumentException("RS256 needs a public key", nameof(options));
        }
        _options = options;
        _time = time ?? TimeProvider.System;
    }

    public string Name => "jwt";

    // The connection lasts as long as the token (plus the clock skew CONNECT allowed): MqttConnection closes it then.
    private static DateTimeOffset ExpiresAt(double exp, double skew)
        => DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Clamp((exp + skew) * 1000, 0, DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()));

    public AuthenticationResult Authenticate(in AuthenticationRequest request)
    {
        var dedicated = _options.Username is not null;
        if (dedicated && request.Username != _options.Username)
        {
            return AuthenticationResult.NotApplicable;
        }
        var token = request.Password;
        var dots = token.Count((byte)'.');
        if (!request.HasPassword || dots != 2 || token.Length > _options.MaxTokenLength)
        {
            return dedicated
                ? AuthenticationResult.Refuse(ReasonCode.BadUserNameOrPassword, "the password is not a JWT")
                : AuthenticationResult.NotApplicable;
        }
        var first = token.IndexOf((byte)'.');
        var second = first + 1 + token[(first + 1)..].IndexOf((byte)'.');
        JsonDocument? header = null;
        try
        {
            header = Parse(token[..first]);
            if (header is null || header.RootElement.ValueKind != JsonValueKind.Object
                || !header.RootElement.TryGetProperty("alg", out var alg) || alg.ValueKind != JsonValueKind.String)
            {
                return dedicated
                    ? AuthenticationResult.Refuse(ReasonCode.BadUserNameOrPassword, "malformed JWT header")
                    : AuthenticationResult.NotApplicable;
            }
            // From here on the password is a token: every problem refuses the CONNECT.
            if (alg.GetString() != _options.Algorithm.ToString())
            {
                return AuthenticationResult.Refuse(ReasonCode.BadUserNameOrPassword, $"JWT algorithm '{alg.GetString()}' is not the configured {_options.Algorithm}");
            }
            if (header.RootElement.TryGetProperty("crit", out _))
            {
                return AuthenticationResult.Refuse(ReasonCode.BadUserNameOrPassword, "JWT with critical header extensions");
            }
        }
        finally
        {
            header?.Dispose();
        }
        if (!VerifySignature(token[..second], token[(second + 1)..]))
        {
            return AuthenticationResult.Refuse(ReasonCode.BadUserNameOrPassword, "JWT signature does not verify");
        }
        using var payload = Parse(token[(first + 1)..second]);
        if (payload is null || payload.RootElement.ValueKind != JsonValueKind.Object)
        {
            return AuthenticationResult.Refuse(ReasonCode.BadUserNameOrPassword, "malformed JWT payload");
        }
        return CheckClaims(payload.RootElement, request.ClientId);
    }

    private AuthenticationResult CheckClaims(JsonElement claims, string clientId)
    {
        var now = _time.GetUtcNow().ToUnixTimeSeconds();
        var skew = (long)_options.ClockSkew.TotalSeconds;
        if (!claims.TryGetProperty("exp", out var exp) || exp.ValueKind != JsonValueKind.Number || !exp.TryGetDouble(out var expires))
        {
            return AuthenticationResult.Refuse(ReasonCode.BadUserNameOrPassword, "JWT without a numeric 'exp'");
        }
        if (now - skew >= expires)
        {
            return AuthenticationResult.Refuse(ReasonCode.BadUserNameOrPassword, "JWT expired");
        }
        if (claims.TryGetProperty("nbf", out var nbf))
        {
            if (nbf.ValueKind != JsonValueKind.Number || !nbf.TryGetDouble(out var notBefore))
            {
                return AuthenticationResult.Refuse(ReasonCode.BadUserNameOrPassword, "JWT with a non-numeric 'nbf'");
            }
            if (now + skew < notBefore)
            {
                return AuthenticationResult.Refuse(ReasonCode.BadUserNameOrPassword, "JWT not valid yet (nbf)");
            }
        }
        if (_options.Issuer is { } issuer && !(claims.TryGetProperty("iss", out var iss) && iss.ValueKind == JsonValueKind.String && iss.GetString() == issuer))
        {
            return AuthenticationResult.Refuse(ReasonCode.BadUserNameOrPassword, "JWT from another issuer");
        }
        if (_options.Audience is { } audience && !(claims.TryGetProperty("aud", out var aud) && ContainsString(aud, audience)))
        {
            return AuthenticationResult.Refuse(ReasonCode.BadUserNameOrPassword, "JWT for another audience");
        }
        if (claims.TryGetProperty(_options.ClientIdClaim, out var allowedIds) && !ContainsString(allowedIds, clientId))
        {
            return AuthenticationResult.Refuse(ReasonCode.NotAuthorized, $"JWT does not allow client id '{clientId}'");
        }
        // The identity comes from the token, never from the CONNECT username: a token without it would let any
        // holder of a valid token choose its ACL identity.
        var claim = _options.UsernameClaim;
        if (!claims.TryGetProperty(claim, out var sub) || sub.ValueKind != JsonValueKind.String || sub.GetString() is not { Length: > 0 } subject)
        {
            return AuthenticationResult.Refuse(ReasonCode.BadUserNameOrPassword, $"JWT without a non-empty string '{claim}' claim (the identity; Auth:Jwt:UsernameClaim)");
        }
        var publish = Filters(claims, _options.PublishClaim);
        var subscribe = Filters(claims, _options.SubscribeClaim);
        if (publish is null && subscribe is null)
        {
            return AuthenticationResult.Allow(subject) with { ExpiresAt = ExpiresAt(expires, skew) };
        }
        return AuthenticationResult.Allow(subject, new JwtPermissions(publish, subscribe)) with { ExpiresAt = ExpiresAt(expires, skew) };
    }

    private static string[]? Filters(JsonElement claims, string name)
    {
        if (!claims.TryGetProperty(name, out var value))
        {
            return null;
        }
        return value.ValueKind switch
        {
            JsonValueKind.String => [value.GetString()!],
            JsonValueKind.Array => [.. value.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!)],
            _ => [],
        };
    }

    private static bool ContainsString(JsonElement value, string wanted) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString() == wanted,
        JsonValueKind.Array => value.EnumerateArray().Any(e => e.ValueKind == JsonValueKind.String && e.GetString() == wanted),
        _ => false,
    };

    private bool VerifySignature(ReadOnlySpan<byte> signedPart, ReadOnlySpan<byte> encodedSignature)
    {
        var signature = DecodeBase64Url(encodedSignature);
        if (signature is null)
        {
            return false;
        }
        if (_options.Algorithm == JwtAlgorithm.HS256)
        {
            Span<byte> mac = stackalloc byte[32];
            HMACSHA256.HashData(_options.Secret, signedPart, mac);
            return signature.Length == 32 && CryptographicOperations.FixedTimeEquals(mac, signature);
        }
        try
        {
            return _options.PublicKey!.VerifyData(signedPart, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    private static JsonDocument? Parse(ReadOnlySpan<byte> encoded)
    {
        var json = DecodeBase64Url(encoded);
        if (json is null)
        {
            return null;
        }
        try
        {
            return JsonDocument.Parse(json, s_json);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Strict base64url without padding (RFC 7515 section 2); null for anything else.</summary>
    private static byte[]? DecodeBase64Url(ReadOnlySpan<byte> encoded)
    {
        if (encoded.IsEmpty || encoded.IndexOfAny((byte)'=', (byte)'+', (byte)'/') >= 0 || !Base64Url.IsValid(encoded))
        {
            return null;
        }
        var buffer = new byte[Base64Url.GetMaxDecodedLength(encoded.Length)];
        return Base64Url.DecodeFromUtf8(encoded, buffer, out _, out var written) == System.Buffers.OperationStatus.Done
            ? buffer[..written]
            : null;
    }

    /// <summary>Topic permissions a token carries.</summary>
    private sealed class JwtPermissions(string[]? publish, string[]? subscribe) : IClientAuthorization
    {
        public bool CanPublish(string topic) => publish is null || AnyMatches(publish, topic);

        public bool CanSubscribe(string filter)
        {
            if (subscribe is null)
            {
                return true;
            }
            foreach (var allowed in subscribe)
            {
                if (TopicFilter.Covers(allowed, filter))
                {
                    return true;
                }
            }
            return false;
        }

        public bool CanReceive(string topic) => subscribe is null || AnyMatches(subscribe, topic);

        private static bool AnyMatches(string[] filters, string topic)
        {
            foreach (var f in filters)
            {
                if (TopicFilter.Matches(f, topic))
                {
                    return true;
                }
            }
            return false;
        }
    }

    /// <summary>Encodes bytes as base64url without padding (for tools and tests that build tokens).</summary>
    public static string EncodeBase64Url(ReadOnlySpan<byte> data) => Base64Url.EncodeToString(data);

    /// <summary>Signs a JWT with HS256 (a convenience for tests and tooling).</summary>
    public static string CreateHs256(string payloadJson, byte[] secret)
    {
        var signed = EncodeBase64Url("{\"alg\":\"HS256\",\"typ\":\"JWT\"}"u8) + "." + EncodeBase64Url(Encoding.UTF8.GetBytes(payloadJson));
        return signed + "." + EncodeBase64Url(HMACSHA256.HashData(secret, Encoding.ASCII.GetBytes(signed)));
    }
}
