using System.Security.Cryptography;
using System.Text;

namespace Starling.Server.Management;

/// <summary>
/// Checks the API key of a management request: <c>Authorization: Bearer KEY</c> or <c>X-API-Key: KEY</c>, compared in
/// constant time with the configured keys (Management:ApiKeys).
/// </summary>
internal sealed class ApiKeyAuthorization
{
    public const string HeaderName = "X-API-Key";

    private readonly byte[][] _keyHashes;

    public ApiKeyAuthorization(ManagementSettings settings)
    {
        _keyHashes = [.. settings.ApiKeys.Select(k => SHA256.HashData(Encoding.UTF8.GetBytes(k)))];
    }

    public bool IsAuthorized(HttpContext context)
    {
        var presented = PresentedKey(context.Request);
        if (string.IsNullOrEmpty(presented))
        {
            return false;
        }
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(presented));
        var match = false;
        foreach (var key in _keyHashes)
        {
            match |= CryptographicOperations.FixedTimeEquals(hash, key);
        }
        return match;
    }

    private static string? PresentedKey(HttpRequest request)
    {
        if (request.Headers.TryGetValue(HeaderName, out var apiKey) && apiKey.Count > 0)
        {
            return apiKey[0]?.Trim();
        }
        var authorization = request.Headers.Authorization.ToString();
        const string Bearer = "Bearer ";
        return authorization.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase) ? authorization[Bearer.Length..].Trim() : null;
    }

    /// <summary>An endpoint filter that answers 401 without a valid key.</summary>
    public ValueTask<object?> FilterAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        if (IsAuthorized(context.HttpContext))
        {
            return next(context);
        }
        context.HttpContext.Response.Headers.WWWAuthenticate = "Bearer realm=\"starling\"";
        return ValueTask.FromResult<object?>(Results.Json(
            new ErrorModel("An API key is needed: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY' with a key from Management:ApiKeys."),
            ManagementJsonContext.Default.ErrorModel, statusCode: StatusCodes.Status401Unauthorized));
    }
}
