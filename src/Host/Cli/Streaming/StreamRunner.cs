using UniPerceiverMoe.Streams.Settings;
using UniPerceiverMoe.Streams.Hub;
using System.Globalization;
using System.Text.Json;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Streams;
using UniPerceiverMoe.Streams.Flows;
using UniPerceiverMoe.Streams.Sources;
using UniPerceiverMoe.Streams.Tasks;

namespace UniPerceiverMoe.Host.Cli.Streaming;

/// <summary>Runs frame sources as concurrent streams on one engine and prints their events as they come (stdout) and
/// each stream's measurements at the end (stderr; with JSON output also a summary line per stream on stdout). Used by
/// <c>upmoe stream</c> and <c>upmoe demo</c>.</summary>
public static class StreamRunner
{
    /// <summary>Captions every window (the caption task only).</summary>
    public static Task<int> RunAsync(UniPerceiverEngine engine, StreamSettings settings, IReadOnlyList<FrameSource> sources,
        bool json, TextWriter output, TextWriter error, CancellationToken cancellation) =>
        RunAsync(engine, settings, sources, StreamTasks.CaptionOnly, json, output, error, cancellation);

    /// <summary>Returns 0 when every stream ended normally, 1 when any failed (each failure printed on one line).</summary>
    public static async Task<int> RunAsync(UniPerceiverEngine engine, StreamSettings settings, IReadOnlyList<FrameSource> sources, StreamTasks tasks,
        bool json, TextWriter output, TextWriter error, CancellationToken cancellation)
    {
        if (tasks.Caption) await engine.VocabularyBankAsync().ConfigureAwait(false);
        await using var hub = CaptionStreamHub.Start(engine, settings);
        var sink = json ? EventSinks.JsonLines(output) : EventSinks.Console(output);
        var streams = new List<CaptionStream>();
        foreach (var (source, i) in sources.Select((s, i) => (s, i)))
            streams.Add(await hub.AddStreamAsync(sources.Count == 1 ? "0" : i.ToString(CultureInfo.InvariantCulture), source, tasks, sink, cancellation)
                .ConfigureAwait(false));
        using var stop = cancellation.Register(() => { foreach (var s in streams) s.Stop(); });
        int exit = ExitCodes.Ok;
        foreach (var stream in streams)
        {
            string? failure = null;
            try
            {
                await stream.Completion.ConfigureAwait(false);
            }
            catch (CaptionStreamException e)
            {
                failure = CliErrors.OneLine(e.Message);
                error.WriteLine(CliErrors.Prefix + failure);
                exit = ExitCodes.Internal;
            }
            var stats = stream.Stats.Snapshot();
            error.WriteLine($"[{stream.Id}] {stream.Source.Name}: {stats}");
            if (json)
                lock (output) output.WriteLine(Summary(stream, stats, failure));
        }
        return exit;
    }

    /// <summary>A stream's closing JSON line: <c>{"stream", "summary": {"input", "tasks", "windows_in", "done", "dropped",
    /// "failed", "emitted", "p50_ms", "p99_ms", "error"}}</c>; windows_in = done + dropped + failed.</summary>
    public static string Summary(CaptionStream stream, Streams.Metrics.StreamStatsSnapshot stats, string? failure) => JsonSerializer.Serialize(new
    {
        stream = stream.Id,
        summary = new
        {
            input = stream.Source.Name,
            tasks = stream.Tasks.Names,
            windows_in = stats.WindowsIn,
            done = stats.Captioned,
            dropped = stats.Dropped,
            failed = stats.Failed,
            emitted = stats.Emitted,
            p50_ms = Math.Round(stats.P50Ms, 1),
            p99_ms = Math.Round(stats.P99Ms, 1),
            error = failure,
        },
    });
}
