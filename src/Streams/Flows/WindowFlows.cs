using Akka;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Model.Preprocessing;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Streams.Metrics;
using UniPerceiverMoe.Streams.Windows;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Streams.Flows;

/// <summary>Window-level stages before the batcher: counting, the overload buffer, preprocessing and route tagging.</summary>
public static class WindowFlows
{
    /// <summary>Counts every window the sampler cut (the left side of the accounting invariant).</summary>
    public static Flow<FrameWindow, FrameWindow, NotUsed> CountIn(StreamStats stats) =>
        Flow.Create<FrameWindow>().Select(w =>
        {
            stats.WindowsIn.Increment();
            return w;
        });

    /// <summary>The stream's bounded overload buffer (<see cref="OverloadBuffer{T}"/>); drops are counted in
    /// <paramref name="stats"/>. Windows here hold frame bytes only (no tensors), so a drop frees them for the GC.</summary>
    public static Flow<FrameWindow, FrameWindow, NotUsed> Buffer(int capacity, OverloadPolicy policy, StreamStats stats) =>
        Flow.FromGraph(new OverloadBuffer<FrameWindow>(capacity, policy, _ => stats.Dropped.Increment(), stats.ObserveBuffered));

    /// <summary>The reference's video test transform and the caption route tag. A window that cannot be
    /// preprocessed is counted failed and fails the stream (its frames are malformed).</summary>
    public static Flow<FrameWindow, TaggedWindow, NotUsed> PreprocessAndTag(StreamStats stats, Device? device = null) =>
        Flow.Create<FrameWindow>().Select(w =>
        {
            try
            {
                return new TaggedWindow(w, Preprocess(w, device), MoeAttribute.CaptionVisual);
            }
            catch (Exception e)
            {
                stats.RecordFailure(e);
                throw;
            }
        });

    /// <summary>Frames of a window as [T, 3, 224, 224] float32 on <paramref name="device"/>, owned by the caller:
    /// [T, H, W, 3] uint8 through <see cref="VideoTransforms.TimesformerTest"/>.</summary>
    public static Tensor Preprocess(FrameWindow window, Device? device = null)
    {
        var first = window.Frames[0];
        int h = first.Height, w = first.Width, frameBytes = h * w * 3;
        var bytes = new byte[checked(window.Frames.Count * frameBytes)];
        for (int t = 0; t < window.Frames.Count; t++)
        {
            var f = window.Frames[t];
            if (f.Height != h || f.Width != w || f.Rgb.Length != frameBytes)
                throw new InvalidDataException($"frame {f.Index} is {f.Width}x{f.Height} ({f.Rgb.Length} bytes), the window's first frame {w}x{h}");
            f.Rgb.AsSpan().CopyTo(bytes.AsSpan(t * frameBytes));
        }
        using var u8 = tensor(bytes, [window.Frames.Count, h, w, 3], ScalarType.Byte);
        return VideoTransforms.TimesformerTest(u8, device);
    }
}
