using UniPerceiverMoe.Host.Inputs;
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

/// <summary>A text feed for task match: its name (as given: -, a path, tcp://…) and its lines.</summary>
public sealed record TextFeedInput(string Name, Akka.Streams.Dsl.Source<string, Akka.NotUsed> Lines);

/// <summary>Runs frame sources as concurrent streams on one engine and prints their events as they come (stdout) and
/// each stream's measurements at the end (stderr; with JSON output also a summary line per stream on stdout). Used by
/// <c>upmoe stream</c> and <c>upmoe demo</c>.</summary>
public static class StreamRunner
{
    /// <summary>Captions every window (the caption task only).</summary>
    public static Task<int> RunAsync(UniPerceiverEngine engine, StreamSettings settings, IReadOnlyList<FrameSource> sources,
        bool json, TextWriter output, TextWriter error, CancellationToken cancellation) =>
        RunAsync(engine, settings, sources, StreamTasks.CaptionOnly, json, output, error, cancellation);

    /// <summary>Returns 0 when every stream ended normally, 1 when any failed (each failure printed on one line). With
    /// <paramref name="textFeed"/>, its texts are matched against the streams' recent windows as they arrive; the feed
    /// stops when the last stream has ended (or ends on its own first, e.g. at the end of stdin).</summary>
    public static async Task<int> RunAsync(UniPerceiverEngine engine, StreamSettings settings, IReadOnlyList<FrameSource> sources, StreamTasks tasks,
        bool json, TextWriter output, TextWriter error, CancellationToken cancellation, TextFeedInput? textFeed = null)
    {
        if (tasks.Caption) await engine.VocabularyBankAsync().ConfigureAwait(false);
        await using var hub = CaptionStreamHub.Start(engine, settings);
        var sink = json ? EventSinks.JsonLines(output) : EventSinks.Console(output);
        var memory = textFeed is null ? null : new WindowMemory(settings.MatchMemory);
        var streams = new List<CaptionStream>();
        foreach (var (source, i) in sources.Select((s, i) => (s, i)))
            streams.Add(await hub.AddStreamAsync(sources.Count == 1 ? "0" : i.ToString(CultureInfo.InvariantCulture), source, tasks, sink, cancellation, memory)
                .ConfigureAwait(false));
        var feed = textFeed is null ? default : hub.RunTextFeed(textFeed.Name, textFeed.Lines, memory!,
            json ? EventSinks.TextMatchJsonLines(output) : EventSinks.TextMatchConsole(output));
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
                failure = InputErrors.OneLine(e.Message);
                error.WriteLine(CliErrors.Prefix + failure);
                exit = ExitCodes.Internal;
            }
            var stats = stream.Stats.Snapshot();
            error.WriteLine($"[{stream.Id}] {stream.Source.Name}: {stats}");
            if (json)
                lock (output) output.WriteLine(Summary(stream, stats, failure));
        }
        if (textFeed is not null)
        {
            feed.Stop.Shutdown();
            try
            {
                await feed.Completion.ConfigureAwait(false);
            }
            catch (CaptionStreamException e)
            {
                error.WriteLine(CliErrors.Prefix + InputErrors.OneLine(e.Message));
                exit = ExitCodes.Internal;
            }
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
