using UniPerceiverMoe.Streams.Settings;
using UniPerceiverMoe.Streams.Hub;
using System.Globalization;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Streams.Batching;
using UniPerceiverMoe.Streams.Metrics;
using UniPerceiverMoe.Streams.Sources;

namespace UniPerceiverMoe.Bench.Streams;

/// <summary>Options of <see cref="StreamBenchmark"/>. A level of N streams is <em>sustained</em> when, over
/// <see cref="Duration"/> of N synthetic 30 fps live streams, the p99 end-to-end latency is at most
/// <see cref="MaxP99"/>, at most <see cref="MaxDropRate"/> of the windows are dropped, and none fails.</summary>
public sealed record StreamBenchmarkOptions
{
    /// <summary>Stream settings (window, stride, hop, batcher, buffer); the overload policy of live streams applies.</summary>
    public required StreamSettings Settings { get; init; }
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>One stream run before the levels, not counted (JIT, first allocations).</summary>
    public TimeSpan WarmUp { get; init; } = TimeSpan.FromSeconds(3);
    public int MaxStreams { get; init; } = 64;
    public double Fps { get; init; } = 30;
    public int Width { get; init; } = 320;
    public int Height { get; init; } = 240;
    public TimeSpan MaxP99 { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Fraction of windows (0..1).</summary>
    public double MaxDropRate { get; init; } = 0.01;
}

/// <summary>One level's totals over all its streams.</summary>
public sealed record StreamLevelResult(int Streams, long WindowsIn, long Captioned, long Dropped, long Failed, double P50Ms, double P99Ms)
{
    public double DropRate => WindowsIn == 0 ? 0 : (double)Dropped / WindowsIn;
}

/// <summary>
/// Finds the largest number of concurrent live streams the engine sustains (see <see cref="StreamBenchmarkOptions"/>):
/// doubles N from 1 until a level fails or MaxStreams, then bisects between the last sustained and the first failed
/// level. Prints a line per level and ends with
/// <c>sustained streams: N, p99 latency: X ms, drop rate: Y %</c> (N = 0 and level 1's numbers when even one stream
/// is not sustained).
/// </summary>
public static class StreamBenchmark
{
    public static async Task<StreamLevelResult> RunAsync(UniPerceiverEngine engine, StreamBenchmarkOptions options, TextWriter output,
        CancellationToken cancellation = default)
    {
        await engine.VocabularyBankAsync().ConfigureAwait(false);
        var s = options.Settings;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"caption streams: {options.Width}x{options.Height} at {options.Fps} fps, window {s.Window} frames, stride {s.Stride}, hop {s.Hop.TotalSeconds} s, " +
            $"max batch {s.MaxBatch}, max delay {s.MaxDelay.TotalMilliseconds} ms, buffer {s.BufferSize}, {options.Duration.TotalSeconds} s per level; " +
            $"sustained = p99 <= {options.MaxP99.TotalMilliseconds} ms, drops <= {options.MaxDropRate * 100} %, no failures"));
        // The first windows of a fresh engine pay for JIT compilation and first-touch allocations (one took 0.7-0.9 s
        // on tiny); left in level 1 they are its p99. They run here, unreported.
        var warmUp = await RunLevelAsync(engine, options with { Duration = options.WarmUp }, 1, TextWriter.Null, cancellation).ConfigureAwait(false);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"warm-up (not counted): 1 stream for {options.WarmUp.TotalSeconds} s, {warmUp.Captioned} windows, latency max {warmUp.P99Ms:F0} ms"));
        StreamLevelResult? best = null, first = null;
        int good = 0, bad = 0;
        for (int n = 1; n <= options.MaxStreams && bad == 0; n *= 2)
        {
            var r = await RunLevelAsync(engine, options, n, output, cancellation).ConfigureAwait(false);
            first ??= r;
            if (Sustained(r, options)) (good, best) = (n, r);
            else bad = n;
        }
        while (bad > 0 && bad - good > 1)
        {
            int n = (good + bad) / 2;
            var r = await RunLevelAsync(engine, options, n, output, cancellation).ConfigureAwait(false);
            if (Sustained(r, options)) (good, best) = (n, r);
            else bad = n;
        }
        var final = best ?? first!;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"sustained streams: {good}, p99 latency: {final.P99Ms:F0} ms, drop rate: {final.DropRate * 100:F2} %"));
        return final with { Streams = good };
    }

    public static bool Sustained(StreamLevelResult r, StreamBenchmarkOptions o) =>
        r.Failed == 0 && r.Captioned > 0 && r.P99Ms <= o.MaxP99.TotalMilliseconds && r.DropRate <= o.MaxDropRate;

    /// <summary>Runs <paramref name="n"/> synthetic live streams on a fresh hub until they end.</summary>
    public static async Task<StreamLevelResult> RunLevelAsync(UniPerceiverEngine engine, StreamBenchmarkOptions options, int n, TextWriter output,
        CancellationToken cancellation = default)
    {
        var hub = new CaptionStreamHub(engine.System, new EngineWindows(engine), options.Settings);
        await using (hub.ConfigureAwait(false))
        {
            using var stop = cancellation.Register(() => { foreach (var s in hub.Streams) s.Stop(); });
            var streams = Enumerable.Range(0, n)
                .Select(i => hub.AddStream($"bench-{i}", FrameSources.Synthetic($"synthetic-{i}", options.Width, options.Height, options.Fps, options.Duration, seed: i), _ => { }))
                .ToArray();
            var latency = new LatencyHistogram();
            long windows = 0, captioned = 0, dropped = 0, failed = 0;
            foreach (var s in streams)
            {
                try { await s.Completion.ConfigureAwait(false); }
                catch (CaptionStreamException e) { output.WriteLine(e.Message); }
                latency.Add(s.Stats.Latency);
                windows += s.Stats.WindowsIn.Value;
                captioned += s.Stats.Captioned.Value;
                dropped += s.Stats.Dropped.Value;
                failed += s.Stats.Failed.Value;
            }
            cancellation.ThrowIfCancellationRequested();
            var r = new StreamLevelResult(n, windows, captioned, dropped, failed, latency.PercentileMs(0.5), latency.PercentileMs(0.99));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"streams {n,3}: windows {windows}, captioned {captioned}, dropped {dropped} ({r.DropRate * 100:F2} %), failed {failed}, " +
                $"latency p50 {r.P50Ms:F0} ms, p99 {r.P99Ms:F0} ms -> {(Sustained(r, options) ? "sustained" : "not sustained")}"));
            return r;
        }
    }
}
