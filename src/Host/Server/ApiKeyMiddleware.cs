using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace UniPerceiverMoe.Host.Server;

/// <summary>
/// When upmoe.server.api-key is set, requests must carry it: header <c>X-Api-Key</c>, <c>Authorization: Bearer</c>,
/// or query <c>api_key</c> (EventSource and img elements cannot set headers). Probes and the page's static files
/// are open, so a load balancer can probe and a browser can load the page (which then asks for the key).
/// </summary>
public sealed class ApiKeyMiddleware(RequestDelegate next, ServerSettings settings)
{
    private static readonly HashSet<string> open = new(StringComparer.Ordinal) { "/healthz", "/readyz", "/", "/index.html", "/app.js", "/style.css" };
    private readonly byte[]? expected = settings.ApiKey is null ? null : Encoding.UTF8.GetBytes(settings.ApiKey);

    public Task InvokeAsync(HttpContext context)
    {
        if (expected is null || open.Contains(context.Request.Path.Value ?? "")) return next(context);
        string? given = context.Request.Headers["X-Api-Key"].FirstOrDefault();
        if (given is null && context.Request.Headers.Authorization.FirstOrDefault() is { } auth && auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            given = auth["Bearer ".Length..].Trim();
        given ??= context.Request.Query["api_key"].FirstOrDefault();
        if (given is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), expected)) return next(context);
        return ErrorMiddleware.WriteAsync(context, new ApiException(StatusCodes.Status401Unauthorized, "unauthorized",
            given is null ? "this server needs an API key: send it in the X-Api-Key header" : "the API key is wrong"));
    }
}
