using UniPerceiverMoe.Model.Preprocessing;
using UniPerceiverMoe.Actors.Engine;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Streams.Windows;

/// <summary>A decoded frame and the instant it entered the pipeline (<see cref="System.Diagnostics.Stopwatch"/>
/// ticks): for live and paced sources, its "frame time" on the wall clock.</summary>
public readonly record struct TimedFrame(VideoFrame Frame, long ArrivalTicks);

/// <summary>The frames of one caption window, in time order. Frames' RGB arrays are shared read-only between
/// overlapping windows. <paramref name="Sequence"/>: 0-based window number within the stream (window k starts at
/// frame k * hop); <paramref name="ReadyTicks"/>: arrival of the window's last frame, the earliest instant it could
/// be captioned and the start of its end-to-end latency.</summary>
public sealed record FrameWindow(string StreamId, long Sequence, IReadOnlyList<VideoFrame> Frames, long ReadyTicks)
{
    public TimeSpan Start => Frames[0].Timestamp;
    public TimeSpan End => Frames[^1].Timestamp;
    public IEnumerable<int> FrameIndices => Frames.Select(f => f.Index);
}

/// <summary>A preprocessed window tagged with its route by the tokenize stage. Owns its <see cref="Pixels"/> handle
/// ([T, 3, 224, 224] float32; tags of one window hold handles on the same storage) until it is handed to the batcher,
/// which disposes it once the window's forward under this tag is done, failed or dropped.</summary>
public sealed class TaggedWindow(FrameWindow window, Tensor pixels, RouteTag tag) : IDisposable
{
    public FrameWindow Window { get; } = window;
    public Tensor Pixels { get; } = pixels;

    /// <summary>The route tag set by the tokenize stage: its attribute fixes every MoE route of the window's tokens
    /// before any layer runs, and the engine dispatches the window's forward by it.</summary>
    public RouteTag Tag { get; } = tag;

    public void Dispose() => Pixels.Dispose();
}

/// <summary>A window tokenized once per distinct route tag its stream's tasks need (one encoding per attribute and
/// head); owns every tagged part until submission.</summary>
public sealed record TokenizedWindow(FrameWindow Window, IReadOnlyList<TaggedWindow> Tagged);
