using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using Akka.Streams.Dsl;

namespace UniPerceiverMoe.Streams.Flows;

/// <summary>Where a stream's captions go. Every sink materializes a task that completes when the stream has ended
/// (faulted when it failed). Writers are shared between streams: each line is written under a lock on the writer.</summary>
public static class CaptionSinks
{
    /// <summary>One human-readable line per caption: <c>[id] 00:01.000-00:01.800 text (latency 120 ms)</c>.</summary>
    public static Sink<StreamCaption, Task> Console(TextWriter output) => TextLineSinks.Lines<StreamCaption>(output, Format);

    /// <summary>One JSON object per caption (stream, window, start_s, end_s, frames, ids, text, score, latency_ms).</summary>
    public static Sink<StreamCaption, Task> JsonLines(TextWriter output) => TextLineSinks.Lines<StreamCaption>(output, ToJson);

    /// <summary>Calls <paramref name="onCaption"/> for each caption, in order, one at a time.</summary>
    public static Sink<StreamCaption, Task> Callback(Action<StreamCaption> onCaption) =>
        Sink.ForEach(onCaption).MapMaterializedValue(t => (Task)t);

    /// <summary>A sink that feeds <paramref name="captions"/>, an async sequence for host apps. A consumer that
    /// reads slower than captions arrive back-pressures the stream once <paramref name="capacity"/> captions wait
    /// (the stream's overload policy then applies). The sequence ends when the stream ends and throws its error
    /// when it failed.</summary>
    public static Sink<StreamCaption, Task> AsyncEnumerable(out IAsyncEnumerable<StreamCaption> captions, int capacity = 16)
    {
        var channel = Channel.CreateBounded<StreamCaption>(new BoundedChannelOptions(capacity) { SingleReader = true, SingleWriter = true });
        captions = channel.Reader.ReadAllAsync();
        return Sink.ForEachAsync<StreamCaption>(1, c => channel.Writer.WriteAsync(c).AsTask())
            .MapMaterializedValue(done => (Task)done.ContinueWith(t =>
            {
                channel.Writer.TryComplete(t.Exception?.GetBaseException());
                t.GetAwaiter().GetResult();
            }, TaskScheduler.Default));
    }

    public static string Format(StreamCaption c) => string.Create(CultureInfo.InvariantCulture,
        $"[{c.StreamId}] {TextLineSinks.Clock(c.Start)}-{TextLineSinks.Clock(c.End)} {c.Text} (latency {c.Latency.TotalMilliseconds:F0} ms)");

    public static string ToJson(StreamCaption c) => JsonSerializer.Serialize(new
    {
        stream = c.StreamId,
        window = c.Window,
        start_s = Math.Round(c.Start.TotalSeconds, 3),
        end_s = Math.Round(c.End.TotalSeconds, 3),
        frames = c.FrameIndices,
        ids = c.Ids,
        text = c.Text,
        score = c.Score,
        latency_ms = Math.Round(c.Latency.TotalMilliseconds, 1),
    });
}
