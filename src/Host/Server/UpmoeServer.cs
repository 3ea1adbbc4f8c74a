using Akka.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using UniPerceiverMoe.Host.Hosting;
using UniPerceiverMoe.Host.Server.Metrics;
using UniPerceiverMoe.Host.Server.Streams;

namespace UniPerceiverMoe.Host.Server;

/// <summary>
/// The HTTP host: ASP.NET Core minimal APIs over the embedded engine (started in the background through
/// <see cref="UniPerceiverMoeServiceCollectionExtensions.AddUniPerceiverMoe(IServiceCollection, Action{UniPerceiverMoeOptions})"/>,
/// so /healthz answers while the model loads). Bound to upmoe.server.bind:port (loopback by default).
/// <code>
/// await using var app = UpmoeServer.Build(UpmoeConfig.Parse("upmoe.engine.checkpoint = \"model.pth\""));
/// await app.StartAsync();   // UpmoeServer.Address(app) is the bound http://host:port
/// </code>
/// </summary>
public static class UpmoeServer
{
    /// <param name="config">Engine, streams and server configuration (HOCON over the defaults).</param>
    /// <param name="configure">Extra engine options (progress log, a model without a checkpoint file).</param>
    /// <param name="logging">Logging set-up; default: warnings and errors on stderr.</param>
    public static WebApplication Build(Config config, Action<UniPerceiverMoeOptions>? configure = null, Action<ILoggingBuilder>? logging = null)
    {
        var settings = ServerSettings.FromConfig(config);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "upmoe", ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        if (logging is null) builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace).SetMinimumLevel(LogLevel.Warning);
        else logging(builder.Logging);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = settings.MaxUpload;
            kestrel.Listen(settings.Address()!, settings.Port);
        });
        builder.Services.Configure<Microsoft.AspNetCore.Http.Features.FormOptions>(f => f.MultipartBodyLengthLimit = settings.MaxUpload);
        builder.Services.AddSingleton(settings);
        builder.Services.AddSingleton<UpmoeMetrics>();
        builder.Services.AddSingleton<StreamRegistry>();
        builder.Services.AddUniPerceiverMoe(o =>
        {
            o.Config = config;
            o.StartInBackground = true;
            configure?.Invoke(o);
        });

        var app = builder.Build();
        var metrics = app.Services.GetRequiredService<UpmoeMetrics>();
        metrics.ShowLimits(config, settings.MaxUpload);
        app.Services.GetRequiredService<UniPerceiverMoeOptions>().WrapCaptioner = c => new MeteredCaptioner(c, metrics);
        app.Use(CountRequests(metrics));
        app.UseMiddleware<ErrorMiddleware>();
        app.UseMiddleware<ApiKeyMiddleware>();
        app.UseRouting();
        MapProbes(app);
        app.MapTaskEndpoints();
        app.MapStreamEndpoints();
        PageEndpoints.Map(app);
        return app;
    }

    /// <summary>The address the started server listens on, e.g. http://127.0.0.1:41234.</summary>
    public static string Address(WebApplication app) =>
        app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? throw new InvalidOperationException("the server has not started.");

    private static void MapProbes(WebApplication app)
    {
        app.MapGet("/healthz", () => Results.Json(new { Status = "ok" }, ServerJson.Options));
        app.MapGet("/readyz", (UniPerceiverMoeRuntime runtime) => runtime.State == RuntimeState.Ready
            ? Results.Json(new { Status = "ready" }, ServerJson.Options)
            : Results.Json(new { Status = runtime.State.ToString().ToLowerInvariant(), runtime.Error }, ServerJson.Options, statusCode: 503));
        app.MapGet("/metrics", async (HttpContext http, UpmoeMetrics m) =>
        {
            http.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await m.ExportAsync(http.Response.Body, http.RequestAborted);
        });
    }

    /// <summary>Counts and times every request by its route template (unmatched paths share one label).</summary>
    private static Func<HttpContext, RequestDelegate, Task> CountRequests(UpmoeMetrics metrics) => async (http, next) =>
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        metrics.HttpInFlight.Inc();
        try
        {
            await next(http);
        }
        finally
        {
            metrics.HttpInFlight.Dec();
            string route = (http.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
            metrics.HttpDuration.WithLabels(route).Observe(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
            metrics.HttpRequests.WithLabels(route, http.Request.Method, http.Response.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();
        }
    };
}
