using System.Diagnostics;
using Akka;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Model.Preprocessing;
using UniPerceiverMoe.Streams.Windows;

namespace UniPerceiverMoe.Streams.Flows;

/// <summary>Frame-level stages of a caption stream: arrival stamping (with real-time pacing), idle eviction and
/// window sampling. Every factory returns a fresh blueprint; per-stream state is created per materialization.</summary>
public static class FrameFlows
{
    /// <summary>Stamps each frame with its arrival instant. <paramref name="paced"/>: frame i is first held until
    /// start + its timestamp (start = the first frame's arrival), so a file plays at its frame rate; a frame that is
    /// already late (downstream was slow) passes at once, the pace never drifts.</summary>
    public static Flow<VideoFrame, TimedFrame, NotUsed> Arrive(bool paced)
    {
        if (!paced) return Flow.Create<VideoFrame>().Select(f => new TimedFrame(f, Stopwatch.GetTimestamp()));
        return Flow.Create<VideoFrame>()
            .StatefulSelectMany<VideoFrame, VideoFrame, (VideoFrame Frame, long Due), NotUsed>(() =>
            {
                long origin = -1;
                return f =>
                {
                    long ts = (long)(f.Timestamp.TotalSeconds * Stopwatch.Frequency);
                    if (origin < 0) origin = Stopwatch.GetTimestamp() - ts;
                    return [(f, origin + ts)];
                };
            })
            .SelectAsync(1, async x =>
            {
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), x.Due);
                if (wait > TimeSpan.Zero) await Task.Delay(wait).ConfigureAwait(false);
                return new TimedFrame(x.Frame, Stopwatch.GetTimestamp());
            });
    }

    /// <summary>Fails the stream with <see cref="StreamIdleException"/> when no frame arrives for
    /// <paramref name="idle"/> (zero: never), which stops it and frees its state.</summary>
    public static Flow<TimedFrame, TimedFrame, NotUsed> EvictWhenIdle(TimeSpan idle) =>
        idle <= TimeSpan.Zero
            ? Flow.Create<TimedFrame>()
            : Flow.Create<TimedFrame>().IdleTimeout(idle)
                .SelectError(e => e is TimeoutException ? new StreamIdleException(idle, e) : e);

    /// <summary>Cuts frames into windows with a <see cref="WindowSampler"/> per materialization.</summary>
    public static Flow<TimedFrame, FrameWindow, NotUsed> Sample(string streamId, int window, int strideFrames, int hopFrames)
    {
        _ = new WindowSampler(streamId, window, strideFrames, hopFrames); // validates the arguments now, not at run time
        return Flow.Create<TimedFrame>().StatefulSelectMany<TimedFrame, TimedFrame, FrameWindow, NotUsed>(() =>
        {
            var sampler = new WindowSampler(streamId, window, strideFrames, hopFrames);
            return f => sampler.Push(f);
        });
    }
}

/// <summary>A stream delivered no frame for its idle-eviction time and was evicted.</summary>
public sealed class StreamIdleException(TimeSpan idle, Exception inner)
    : TimeoutException($"no frame for {idle.TotalSeconds:0.###} s (upmoe.streams.idle-eviction): evicted", inner);
