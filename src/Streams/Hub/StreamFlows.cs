using UniPerceiverMoe.Streams.Settings;
using Akka.Streams;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Streams.Batching;
using UniPerceiverMoe.Streams.Flows;
using UniPerceiverMoe.Streams.Metrics;
using UniPerceiverMoe.Streams.Sources;
using UniPerceiverMoe.Streams.Tasks;
using UniPerceiverMoe.Streams.Windows;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Streams.Hub;

/// <summary>The whole per-stream graph, from frames to events, composed from the stage factories.</summary>
public static class StreamFlows
{
    /// <summary>
    /// frames → arrival (paced?) → idle eviction → sampler → count in → overload buffer → kill switch ‖ tokenize
    /// (preprocess once, one route-tagged part per tag the tasks need) → batcher (cross-stream, by route) → task heads
    /// (caption, classify, watch, match) → count emitted. The materialized kill switch stops the stream (its buffered windows
    /// are counted dropped, the reader is cancelled). ‖ is an async boundary whose input buffer holds one window, so at
    /// most buffer-size + 2 sampled windows wait per stream, plus in-flight-per-stream at the batcher. Errors surface
    /// as <see cref="CaptionStreamException"/>.
    /// </summary>
    public static Source<IStreamEvent, UniqueKillSwitch> Run(string id, FrameSource source, StreamTasks tasks, StreamTargets targets,
        StreamSettings settings, StreamStats stats, WindowBatcher batcher, Device? device, CancellationToken streamStopped) =>
        source.Frames
            .Via(FrameFlows.Arrive(source.Paced))
            .Via(FrameFlows.EvictWhenIdle(settings.IdleEviction))
            .Via(FrameFlows.Sample(id, settings.Window, settings.StrideFrames(source.Fps), settings.HopFrames(source.Fps)))
            .Via(WindowFlows.CountIn(stats))
            .Via(WindowFlows.Buffer(settings.BufferSize, settings.PolicyFor(source.Live), stats))
            .ViaMaterialized(KillSwitches.Single<FrameWindow>(), Keep.Right)
            .Async()
            .Via(WindowFlows.Tokenize(tasks.Tags, stats, device))
            .Via(CaptionFlows.Submit(batcher, settings.InFlightPerStream, stats, streamStopped))
            .Via(TaskFlows.Heads(tasks, targets, stats, settings.Smoothing))
            .Via(CaptionFlows.CountEmitted<IStreamEvent>(stats))
            .SelectError(e => CaptionStreamException.Wrap(id, source.Name, e));

    /// <summary>A caption stream: <see cref="Run"/> with <see cref="StreamTasks.CaptionOnly"/>.</summary>
    public static Source<StreamCaption, UniqueKillSwitch> Caption(string id, FrameSource source, StreamSettings settings, StreamStats stats,
        WindowBatcher batcher, Device? device, CancellationToken streamStopped) =>
        Run(id, source, StreamTasks.CaptionOnly, StreamTargets.None, settings, stats, batcher, device, streamStopped)
            .Select(e => (StreamCaption)e);
}
