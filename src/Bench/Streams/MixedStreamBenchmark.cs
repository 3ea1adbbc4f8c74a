using System.Globalization;
using Akka.Actor;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Streams.Batching;
using UniPerceiverMoe.Streams.Metrics;
using UniPerceiverMoe.Streams.Sources;
using UniPerceiverMoe.Streams.Tasks;
using UniPerceiverMoe.Streams.Hub;
using UniPerceiverMoe.Streams.Settings;

namespace UniPerceiverMoe.Bench.Streams;

/// <summary>Options of <see cref="MixedStreamBenchmark"/>: <see cref="Streams"/> synthetic live streams for
/// <see cref="Duration"/>, stream i running task <c>Mix[i mod Mix.Count]</c> (classify against <see cref="Labels"/>,
/// watch <see cref="Queries"/>).</summary>
public sealed record MixedStreamOptions
{
    /// <summary>Stream settings (window, stride, hop, batcher, buffer); the overload policy of live streams applies.</summary>
    public required StreamSettings Settings { get; init; }
    /// <summary>Task names (caption, classify, watch), one per stream in turn.</summary>
    public required IReadOnlyList<string> Mix { get; init; }
    public int Streams { get; init; } = 12;
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(10);
    public double Fps { get; init; } = 30;
    public int Width { get; init; } = 320;
    public int Height { get; init; } = 240;
    public IReadOnlyList<string> Labels { get; init; } = ["a person", "a car", "a dog", "an empty street", "a test pattern"];
    public IReadOnlyList<string> Queries { get; init; } = ["a person falls", "a red car"];
    /// <summary>A first, unreported run of the by-route load this long (0: none), so neither measured run pays the
    /// engine's first forwards of each route.</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>The frames of stream i (given the run's duration); null: <see cref="FrameSources.Synthetic"/> with
    /// <see cref="Width"/>, <see cref="Height"/>, <see cref="Fps"/> (paced, live).</summary>
    public Func<int, TimeSpan, FrameSource>? Source { get; init; }
    /// <summary>Runs of each mode, interleaved by-route, one-per-window, one-per-window, by-route, … so that a machine
    /// whose other load drifts treats both alike; each mode's figures are over all its runs.</summary>
    public int Rounds { get; init; } = 2;
}

/// <summary>One task's totals over its streams in one run (latencies: window's last frame to its event).</summary>
public sealed record MixedTaskResult(string Task, int Streams, long WindowsIn, long Done, long Dropped, long Failed, double P50Ms, double P99Ms);

/// <summary>The forwards one route tag got in one run: <see cref="Windows"/> windows in <see cref="Forwards"/> forwards.</summary>
public sealed record RouteComposition(RouteTag Tag, long Forwards, long Windows)
{
    public double WindowsPerForward => Forwards == 0 ? 0 : (double)Windows / Forwards;
}

/// <summary>One run of the mixed load: per task, per route, and all windows together.</summary>
public sealed record MixedRunResult(string Mode, IReadOnlyList<MixedTaskResult> Tasks, IReadOnlyList<RouteComposition> Routes, double P50Ms, double P99Ms)
{
    public long Forwards => Routes.Sum(r => r.Forwards);
    public long Done => Tasks.Sum(t => t.Done);
    public long Dropped => Tasks.Sum(t => t.Dropped);
    public long WindowsIn => Tasks.Sum(t => t.WindowsIn);
}

/// <summary>Both runs of <see cref="MixedStreamBenchmark.RunAsync"/>: batching by route, then one forward per window
/// and task (max-batch 1), on the same load (after an unreported warm-up run).</summary>
public sealed record MixedBenchmarkResult(MixedRunResult ByRoute, MixedRunResult OnePerWindow);

/// <summary>
/// Sustained live streams with mixed tasks on one engine, on the same load in two modes: the micro-batcher batching by
/// route (the settings' max-batch), and max-batch 1, so every window of every task is its own forward. The modes'
/// runs are interleaved (<see cref="MixedStreamOptions.Rounds"/>). Prints per mode one line per task (windows, drops,
/// latency p50/p99) and per route tag (forwards, windows, windows per forward), and ends with the ratio line
/// <c>by route vs one forward per window: forwards X.XX×, done windows Y.YY×, dropped A vs B, p50 C.CC×, p99 D.DD×</c>
/// (by-route figure over the other).
/// </summary>
public static class MixedStreamBenchmark
{
    public static async Task<MixedBenchmarkResult> RunAsync(ActorSystem system, IWindowEngine engine, MixedStreamOptions options, TextWriter output,
        CancellationToken cancellation = default)
    {
        if (options.Rounds < 1) throw new ArgumentException($"rounds must be at least 1 (got {options.Rounds}).", nameof(options));
        var s = options.Settings;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"mixed streams: {options.Streams} streams ({string.Join(", ", options.Mix)} in turn), " +
            $"{(options.Source is null ? $"synthetic {options.Width}x{options.Height} at {options.Fps} fps" : "given sources")}, " +
            $"window {s.Window} frames, stride {s.Stride}, hop {s.Hop.TotalSeconds} s, max batch {s.MaxBatch}, max delay {s.MaxDelay.TotalMilliseconds} ms, " +
            $"batches in flight {s.BatchesInFlight}, {options.Duration.TotalSeconds} s per run, {options.Rounds} run(s) per mode interleaved"));
        if (options.Warmup > TimeSpan.Zero)
            await RunOnceAsync(system, engine, options with { Duration = options.Warmup }, s, new Totals(), cancellation).ConfigureAwait(false);
        Totals byRoute = new(), single = new();
        for (int round = 0; round < options.Rounds; round++)
            foreach (bool batched in round % 2 == 0 ? new[] { true, false } : [false, true])
                await RunOnceAsync(system, engine, options, batched ? s : s with { MaxBatch = 1 }, batched ? byRoute : single, cancellation).ConfigureAwait(false);
        var a = Report("by route", byRoute, output);
        var b = Report("one forward per window", single, output);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"by route vs one forward per window: forwards {Ratio(a.Forwards, b.Forwards)}, done windows {Ratio(a.Done, b.Done)}, " +
            $"dropped {a.Dropped} vs {b.Dropped}, p50 {Ratio(a.P50Ms, b.P50Ms)}, p99 {Ratio(a.P99Ms, b.P99Ms)}"));
        return new MixedBenchmarkResult(a, b);
    }

    /// <summary>The tasks of stream <paramref name="index"/>.</summary>
    public static StreamTasks TasksOf(int index, MixedStreamOptions options)
    {
        string task = options.Mix[index % options.Mix.Count];
        return StreamTasks.Parse([task], task == "classify" ? options.Labels : [], task == "watch" ? options.Queries : [], options.Settings);
    }

    /// <summary>One mode's counts over its runs, per task and per route tag.</summary>
    private sealed class Totals
    {
        public Dictionary<string, TaskTotals> Tasks { get; } = [];
        public Dictionary<RouteTag, (long Forwards, long Windows)> Routes { get; } = [];
    }

    /// <summary>One task's streams, windows and latencies over a mode's runs.</summary>
    private sealed class TaskTotals
    {
        public int Streams;
        public long In, Done, Dropped, Failed;
        public LatencyHistogram Latency { get; } = new();
    }

    private static async Task RunOnceAsync(ActorSystem system, IWindowEngine engine, MixedStreamOptions options, StreamSettings settings, Totals totals,
        CancellationToken cancellation)
    {
        var hub = new CaptionStreamHub(system, engine, settings);
        var streams = new List<(string Task, CaptionStream Stream)>();
        await using (hub.ConfigureAwait(false))
        {
            using var stop = cancellation.Register(() => { foreach (var x in hub.Streams) x.Stop(); });
            for (int i = 0; i < options.Streams; i++)
            {
                var tasks = TasksOf(i, options);
                var source = options.Source?.Invoke(i, options.Duration)
                    ?? FrameSources.Synthetic($"synthetic-{i}", options.Width, options.Height, options.Fps, options.Duration, seed: i);
                streams.Add((tasks.Names[0], await hub.AddStreamAsync($"mix-{i}", source, tasks, UniPerceiverMoe.Streams.Flows.EventSinks.Callback(_ => { }), cancellation)
                    .ConfigureAwait(false)));
            }
            foreach (var (_, stream) in streams)
            {
                try { await stream.Completion.ConfigureAwait(false); }
                catch (CaptionStreamException) { /* counted as failed windows */ }
            }
            cancellation.ThrowIfCancellationRequested();
            foreach (var (tag, (forwards, windows)) in hub.ForwardsByRoute())
                totals.Routes[tag] = totals.Routes.TryGetValue(tag, out var r) ? (r.Forwards + forwards, r.Windows + windows) : (forwards, windows);
        }
        foreach (var (task, stream) in streams)
        {
            if (!totals.Tasks.TryGetValue(task, out var t)) totals.Tasks[task] = t = new TaskTotals();
            var st = stream.Stats;
            t.Streams++;
            t.In += st.WindowsIn.Value;
            t.Done += st.Captioned.Value;
            t.Dropped += st.Dropped.Value;
            t.Failed += st.Failed.Value;
            t.Latency.Add(st.Latency);
        }
    }

    private static MixedRunResult Report(string mode, Totals totals, TextWriter output)
    {
        var all = new LatencyHistogram();
        var tasks = totals.Tasks.Select(kv =>
        {
            all.Add(kv.Value.Latency);
            return new MixedTaskResult(kv.Key, kv.Value.Streams, kv.Value.In, kv.Value.Done, kv.Value.Dropped, kv.Value.Failed,
                kv.Value.Latency.PercentileMs(0.5), kv.Value.Latency.PercentileMs(0.99));
        }).ToArray();
        var routes = totals.Routes.Select(kv => new RouteComposition(kv.Key, kv.Value.Forwards, kv.Value.Windows))
            .OrderBy(r => r.Tag.ToString(), StringComparer.Ordinal).ToArray();
        var result = new MixedRunResult(mode, tasks, routes, all.PercentileMs(0.5), all.PercentileMs(0.99));
        output.WriteLine($"{mode}:");
        foreach (var t in tasks)
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  task {t.Task,-8} streams {t.Streams}: windows {t.WindowsIn}, done {t.Done}, dropped {t.Dropped}, failed {t.Failed}, latency p50 {t.P50Ms:F0} ms, p99 {t.P99Ms:F0} ms"));
        foreach (var r in routes)
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  route {r.Tag,-20} forwards {r.Forwards}, windows {r.Windows}, windows per forward {r.WindowsPerForward:F2}"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  all: forwards {result.Forwards}, done {result.Done} of {result.WindowsIn} windows, latency p50 {result.P50Ms:F0} ms, p99 {result.P99Ms:F0} ms"));
        return result;
    }

    private static string Ratio(double a, double b) => b == 0 ? "n/a" : string.Create(CultureInfo.InvariantCulture, $"{a / b:F2}×");
}
