using System.Reflection;

namespace Starling.Server.Dashboard;

/// <summary>
/// The web dashboard: plain HTML, CSS and JavaScript from Dashboard/wwwroot, embedded in the server assembly (no build
/// step, no server-side rendering). Served at / and /dashboard/{file} on the management port; the data comes from /api.
/// </summary>
internal static class DashboardFiles
{
    private const string ResourcePrefix = "dashboard/";

    private static readonly Dictionary<string, string> s_contentTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".svg"] = "image/svg+xml",
        [".ico"] = "image/x-icon",
    };

    public static void Map(WebApplication app)
    {
        app.MapGet("/", (HttpContext context) => Serve(context, "index.html")).ExcludeFromDescription();
        app.MapGet("/dashboard/{file}", (HttpContext context, string file) => Serve(context, file)).ExcludeFromDescription();
    }

    private static IResult Serve(HttpContext context, string file)
    {
        var extension = Path.GetExtension(file);
        if (file.Contains('/', StringComparison.Ordinal) || file.Contains("..", StringComparison.Ordinal)
            || !s_contentTypes.TryGetValue(extension, out var contentType))
        {
            return Results.NotFound();
        }
        var stream = typeof(DashboardFiles).Assembly.GetManifestResourceStream(ResourcePrefix + file);
        if (stream is null)
        {
            return Results.NotFound();
        }
        var headers = context.Response.Headers;
        headers.CacheControl = "no-cache";
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers.ContentSecurityPolicy = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'";
        headers["Referrer-Policy"] = "no-referrer";
        return Results.Stream(stream, contentType);
    }

    /// <summary>The embedded file names (for tests).</summary>
    internal static IEnumerable<string> Names() => typeof(DashboardFiles).Assembly.GetManifestResourceNames()
        .Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)).Select(n => n[ResourcePrefix.Length..]);

    internal static Assembly Assembly => typeof(DashboardFiles).Assembly;
}
