using UniPerceiverMoe.Model.Preprocessing;
using UniPerceiverMoe.Model.Routing;
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

/// <summary>A preprocessed window tagged with its route attribute. Owns <see cref="Pixels"/> ([T, 3, 224, 224]
/// float32) until it is handed to the batcher, which disposes it once the window is captioned, failed or dropped.</summary>
public sealed class TaggedWindow(FrameWindow window, Tensor pixels, MoeAttribute attribute) : IDisposable
{
    public FrameWindow Window { get; } = window;
    public Tensor Pixels { get; } = pixels;

    /// <summary>The attribute of the visual tokens: it fixes every MoE route of the window before any layer runs.
    /// Caption windows carry <see cref="MoeAttribute.CaptionVisual"/>.</summary>
    public MoeAttribute Attribute { get; } = attribute;

    public void Dispose() => Pixels.Dispose();
}
