using Akka.Streams;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Streams.Batching;
using UniPerceiverMoe.Streams.Flows;
using UniPerceiverMoe.Streams.Metrics;
using UniPerceiverMoe.Streams.Sources;
using UniPerceiverMoe.Streams.Windows;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Streams;

/// <summary>The whole per-stream graph, from frames to captions, composed from the stage factories.</summary>
public static class StreamFlows
{
    /// <summary>
    /// frames → arrival (paced?) → idle eviction → sampler → count in → overload buffer → kill switch ‖ preprocess +
    /// route tag → batcher (cross-stream) → captions → smoothing? → count emitted. The materialized kill switch stops
    /// the stream (its buffered windows are counted dropped, the reader is cancelled). ‖ is an async boundary whose
    /// input buffer holds one window, so at most buffer-size + 2 sampled windows wait per stream, plus
    /// in-flight-per-stream at the batcher. Errors surface as <see cref="CaptionStreamException"/>.
    /// </summary>
    public static Source<StreamCaption, UniqueKillSwitch> Caption(string id, FrameSource source, StreamSettings settings, StreamStats stats,
        CaptionBatcher batcher, Device? device, CancellationToken streamStopped)
    {
        var windows = source.Frames
            .Via(FrameFlows.Arrive(source.Paced))
            .Via(FrameFlows.EvictWhenIdle(settings.IdleEviction))
            .Via(FrameFlows.Sample(id, settings.Window, settings.StrideFrames(source.Fps), settings.HopFrames(source.Fps)))
            .Via(WindowFlows.CountIn(stats))
            .Via(WindowFlows.Buffer(settings.BufferSize, settings.PolicyFor(source.Live), stats))
            .ViaMaterialized(KillSwitches.Single<FrameWindow>(), Keep.Right)
            .Async();
        var captions = windows
            .Via(WindowFlows.PreprocessAndTag(stats, device))
            .Via(CaptionFlows.Submit(batcher, settings.InFlightPerStream, stats, streamStopped))
            .Via(CaptionFlows.ToStreamCaptions(stats));
        if (settings.Smoothing) captions = captions.Via(CaptionFlows.Smooth());
        return captions
            .Via(CaptionFlows.CountEmitted(stats))
            .SelectError(e => CaptionStreamException.Wrap(id, source.Name, e));
    }
}
