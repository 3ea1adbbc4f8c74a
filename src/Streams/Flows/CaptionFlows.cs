using System.Diagnostics;
using Akka;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Streams.Batching;
using UniPerceiverMoe.Streams.Metrics;
using UniPerceiverMoe.Streams.Tasks;
using UniPerceiverMoe.Streams.Windows;

namespace UniPerceiverMoe.Streams.Flows;

/// <summary>Caption-level stages: submission to the shared batcher, stream captions, smoothing.</summary>
public static class CaptionFlows
{
    /// <summary>Submits tokenized windows to <paramref name="batcher"/>, at most <paramref name="inFlight"/> windows at a
    /// time, and emits their outcomes in window order (stock SelectAsync). Ownership of each window's tagged pixels
    /// passes to the batcher on submission.</summary>
    public static Flow<TokenizedWindow, WindowOutcome, NotUsed> Submit(WindowBatcher batcher, int inFlight, StreamStats stats,
        CancellationToken streamStopped) =>
        Flow.Create<TokenizedWindow>().SelectAsync(inFlight, w => batcher.SubmitAsync(w, stats, streamStopped));

    /// <summary>The caption of a done window as a stream caption, with the text the engine decoded.</summary>
    public static StreamCaption ToStreamCaption(WindowOutcome o, TimeSpan latency)
    {
        var caption = o.Caption ?? throw new InvalidOperationException($"window {o.Window.Sequence} of stream {o.Window.StreamId} has no caption");
        return new StreamCaption(o.Window.StreamId, o.Window.Sequence, o.Window.Start, o.Window.End,
            o.Window.FrameIndices.ToArray(), caption.Ids, caption.Text, caption.Score, latency);
    }

    /// <summary>Emits a caption only when its text differs from the previous one of the stream (the caption history
    /// is that one string per materialization).</summary>
    public static Flow<StreamCaption, StreamCaption, NotUsed> Smooth() =>
        Flow.Create<StreamCaption>().StatefulSelectMany<StreamCaption, StreamCaption, StreamCaption, NotUsed>(() =>
        {
            string? previous = null;
            return c =>
            {
                if (c.Text == previous) return [];
                previous = c.Text;
                return [c];
            };
        });

    /// <summary>Counts events handed to the sink.</summary>
    public static Flow<T, T, NotUsed> CountEmitted<T>(StreamStats stats) =>
        Flow.Create<T>().Select(c =>
        {
            stats.Emitted.Increment();
            return c;
        });

    /// <summary>End-to-end latency of a window: from its last frame arriving to now.</summary>
    internal static TimeSpan LatencyOf(WindowOutcome o) => Stopwatch.GetElapsedTime(o.Window.ReadyTicks);
}
