using System.Diagnostics;
using Akka;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Streams.Batching;
using UniPerceiverMoe.Streams.Metrics;
using UniPerceiverMoe.Streams.Windows;

namespace UniPerceiverMoe.Streams.Flows;

/// <summary>Caption-level stages: submission to the shared batcher, stream captions, smoothing.</summary>
public static class CaptionFlows
{
    /// <summary>Submits windows to <paramref name="batcher"/>, at most <paramref name="inFlight"/> at a time, and
    /// emits their outcomes in window order (stock SelectAsync). Ownership of each window's pixels passes to the
    /// batcher on submission.</summary>
    public static Flow<TaggedWindow, WindowOutcome, NotUsed> Submit(CaptionBatcher batcher, int inFlight, StreamStats stats,
        CancellationToken streamStopped) =>
        Flow.Create<TaggedWindow>().SelectAsync(inFlight, w => batcher.SubmitAsync(w, stats, streamStopped));

    /// <summary>Captioned windows as stream captions, with the text the engine decoded (failed and dropped ones are
    /// already counted and end here); records each caption's end-to-end latency.</summary>
    public static Flow<WindowOutcome, StreamCaption, NotUsed> ToStreamCaptions(StreamStats stats) =>
        Flow.Create<WindowOutcome>()
            .Where(o => o.Captioned)
            .Select(o =>
            {
                var caption = o.Result!;
                var latency = Stopwatch.GetElapsedTime(o.Window.ReadyTicks);
                stats.Latency.Record(latency);
                return new StreamCaption(o.Window.StreamId, o.Window.Sequence, o.Window.Start, o.Window.End,
                    o.Window.FrameIndices.ToArray(), caption.Ids, caption.Text, caption.Score, latency);
            });

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

    /// <summary>Counts captions handed to the sink.</summary>
    public static Flow<StreamCaption, StreamCaption, NotUsed> CountEmitted(StreamStats stats) =>
        Flow.Create<StreamCaption>().Select(c =>
        {
            stats.Emitted.Increment();
            return c;
        });
}
