using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;

namespace UniPerceiverMoe.Host.Server.Streams;

/// <summary>Caption streams over HTTP: start (POST /v1/streams), list, inspect, stop (DELETE), the latest frame as
/// PNG, and the live captions as server-sent events.</summary>
public static class StreamEndpoints
{
    public static void MapStreamEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/streams", async (HttpContext http, StreamRegistry registry) =>
        {
            if (http.Request.HasJsonContentType() is false)
                throw ApiException.Unsupported($"expected a JSON body (application/json), got {http.Request.ContentType ?? "no Content-Type"}");
            var request = await http.Request.ReadFromJsonAsync<StartStreamRequest>(ServerJson.Options, http.RequestAborted)
                ?? throw ApiException.BadRequest("the JSON body is null");
            var entry = await registry.StartAsync(request, http.RequestAborted);
            return Results.Json(StreamJson.Of(entry), ServerJson.Options, statusCode: StatusCodes.Status201Created);
        });
        app.MapGet("/v1/streams", (StreamRegistry registry) => Results.Json(registry.All.Select(e => StreamJson.Of(e)), ServerJson.Options));
        app.MapGet("/v1/streams/{id}", (string id, StreamRegistry registry) => Results.Json(StreamJson.Of(registry.Get(id), withCaptions: true), ServerJson.Options));
        app.MapDelete("/v1/streams/{id}", (string id, StreamRegistry registry) =>
        {
            bool stopping = registry.Stop(id);
            return Results.Json(StreamJson.Of(registry.Get(id)), ServerJson.Options,
                statusCode: stopping ? StatusCodes.Status202Accepted : StatusCodes.Status200OK);
        });
        app.MapGet("/v1/streams/{id}/frame.png", (string id, HttpContext http, StreamRegistry registry) =>
        {
            var png = registry.Get(id).LatestPng() ?? throw ApiException.NotFound($"stream '{id}' has no frame yet");
            http.Response.Headers.CacheControl = "no-store";
            return Results.Bytes(png, "image/png");
        });
        app.MapGet("/v1/streams/{id}/events", EventsAsync);
    }

    /// <summary>
    /// Server-sent events: the recent events, then each new one as it is emitted (<c>event: caption</c>,
    /// <c>event: classification</c>, <c>event: alert</c>, <c>event: match</c>: the JSON of <c>upmoe stream --json</c>), the stream's counters every stats-interval (<c>event: stats</c>), and
    /// <c>event: end</c> with the final state when the stream has ended. Ends with the stream, the client, or the server.
    /// </summary>
    private static async Task EventsAsync(string id, HttpContext http, StreamRegistry registry, ServerSettings settings, IHostApplicationLifetime lifetime)
    {
        var entry = registry.Get(id);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, lifetime.ApplicationStopping);
        var ct = cancel.Token;
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        http.Response.Headers["X-Accel-Buffering"] = "no";
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        using var subscription = entry.Feed.Subscribe();
        var reader = subscription.Reader;
        await WriteAsync(http, "retry: 3000\n\n", ct);
        Task<bool>? waiting = null;
        var nextStats = DateTime.UtcNow;
        try
        {
            while (true)
            {
                while (reader.TryRead(out var e)) await WriteAsync(http, $"event: {e.Type}\nid: {e.Id}\ndata: {e.Json}\n\n", ct);
                if (reader.Completion.IsCompleted)
                {
                    await entry.Ended.WaitAsync(ct);
                    await WriteAsync(http, $"event: end\ndata: {Json(StreamJson.Of(entry))}\n\n", ct);
                    return;
                }
                if (DateTime.UtcNow >= nextStats)
                {
                    await WriteAsync(http, $"event: stats\ndata: {Json(StreamJson.Of(entry))}\n\n", ct);
                    nextStats = DateTime.UtcNow + settings.StatsInterval;
                }
                // Wake for the next event or the next stats tick; one pending read-wait is reused across ticks.
                waiting ??= reader.WaitToReadAsync(ct).AsTask();
                var tick = Task.Delay(nextStats - DateTime.UtcNow is { Ticks: > 0 } d ? d : TimeSpan.Zero, ct);
                if (await Task.WhenAny(waiting, tick) == waiting)
                {
                    await waiting;               // false once completed and drained: the loop sees Completion
                    waiting = null;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Client gone or server stopping.
        }
    }

    private static string Json<T>(T value) => JsonSerializer.Serialize(value, ServerJson.Options);

    private static async Task WriteAsync(HttpContext http, string text, CancellationToken ct)
    {
        await http.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(text), ct);
        await http.Response.Body.FlushAsync(ct);
    }
}
