using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace UniPerceiverMoe.Host.Server;

/// <summary>The live caption page: three static files embedded in the assembly (Server/Page), no build step.</summary>
public static class PageEndpoints
{
    private static readonly (string Path, string Resource, string ContentType)[] Files =
    [
        ("/", "upmoe.page.index.html", "text/html; charset=utf-8"),
        ("/index.html", "upmoe.page.index.html", "text/html; charset=utf-8"),
        ("/app.js", "upmoe.page.app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "upmoe.page.style.css", "text/css; charset=utf-8"),
    ];

    public static void Map(WebApplication app)
    {
        foreach (var (path, resource, contentType) in Files)
        {
            byte[] bytes = Read(resource);
            app.MapGet(path, () => Results.Bytes(bytes, contentType));
        }
    }

    private static byte[] Read(string resource)
    {
        using var stream = typeof(PageEndpoints).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"page file {resource} is not embedded in the host assembly.");
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }
}
