using System.Globalization;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Streams;
using UniPerceiverMoe.Streams.Flows;
using UniPerceiverMoe.Streams.Sources;

namespace UniPerceiverMoe.Host.Cli.Streaming;

/// <summary>Runs frame sources as concurrent caption streams on one engine and prints captions as they come
/// (stdout) and each stream's measurements at the end (stderr). Used by <c>upmoe stream</c> and <c>upmoe demo</c>.</summary>
public static class StreamRunner
{
    /// <summary>Returns 0 when every stream ended normally, 1 when any failed (each failure printed on one line).</summary>
    public static async Task<int> RunAsync(UniPerceiverEngine engine, StreamSettings settings, IReadOnlyList<FrameSource> sources,
        bool json, TextWriter output, TextWriter error, CancellationToken cancellation)
    {
        await engine.VocabularyBankAsync().ConfigureAwait(false);
        await using var hub = CaptionStreamHub.Start(engine, settings);
        var sink = json ? CaptionSinks.JsonLines(output) : CaptionSinks.Console(output);
        var streams = sources.Select((source, i) => hub.AddStream(sources.Count == 1 ? "0" : i.ToString(CultureInfo.InvariantCulture), source, sink)).ToArray();
        using var stop = cancellation.Register(() => { foreach (var s in streams) s.Stop(); });
        int exit = ExitCodes.Ok;
        foreach (var stream in streams)
        {
            try
            {
                await stream.Completion.ConfigureAwait(false);
            }
            catch (CaptionStreamException e)
            {
                error.WriteLine(CliErrors.Prefix + CliErrors.OneLine(e.Message));
                exit = ExitCodes.Internal;
            }
            error.WriteLine($"[{stream.Id}] {stream.Source.Name}: {stream.Stats.Snapshot()}");
        }
        return exit;
    }
}
