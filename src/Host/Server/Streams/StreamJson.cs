using System.Text.Json;

namespace UniPerceiverMoe.Host.Server.Streams;

/// <summary>A stream's counters (latencies in milliseconds): windows in = captioned + dropped + failed once ended.</summary>
public sealed record StreamStatsJson(long WindowsIn, long Captioned, long Dropped, long Failed, long Emitted, int Buffered, int InFlight,
    double LatencyP50Ms, double LatencyP99Ms, double LatencyMaxMs);

/// <summary>A stream in API answers and the page's stats events. <c>Captions</c> (recent ones, oldest first) only
/// in GET /v1/streams/{id}.</summary>
public sealed record StreamJson(string Id, string Source, string State, string? Error, DateTimeOffset StartedAt, StreamStatsJson Stats,
    int EventClients, IReadOnlyList<JsonElement>? Captions = null)
{
    public static StreamJson Of(StreamEntry e, bool withCaptions = false)
    {
        var s = e.Stream?.Stats;
        var stats = s is null
            ? new StreamStatsJson(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            : new StreamStatsJson(s.WindowsIn.Value, s.Captioned.Value, s.Dropped.Value, s.Failed.Value, s.Emitted.Value, s.Buffered, s.InFlight,
                Math.Round(s.Latency.PercentileMs(0.5), 1), Math.Round(s.Latency.PercentileMs(0.99), 1), Math.Round(s.Latency.MaxMs, 1));
        var captions = withCaptions ? e.Feed.Recent.Select(c => JsonDocument.Parse(c.Json).RootElement).ToArray() : null;
        return new StreamJson(e.Id, e.Source, e.State.ToString().ToLowerInvariant(), e.Error, e.StartedAt, stats, e.Feed.Subscribers, captions);
    }
}
