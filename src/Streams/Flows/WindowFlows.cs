using UniPerceiverMoe.Streams.Settings;
using Akka;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Model.Preprocessing;
using UniPerceiverMoe.Actors.Engine;
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

    /// <summary>The video tokenize stage: the reference's video test transform, once per window, and one route-tagged
    /// part per distinct tag of <paramref name="tags"/> (each holding its own handle on the pixels). The tags set here
    /// are the ones the batcher groups by and the engine dispatches by. A window that cannot be preprocessed is counted
    /// failed and fails the stream (its frames are malformed).</summary>
    public static Flow<FrameWindow, TokenizedWindow, NotUsed> Tokenize(IReadOnlyList<RouteTag> tags, StreamStats stats, Device? device = null)
    {
        if (tags.Count == 0) throw new ArgumentException("a window needs at least one route tag.", nameof(tags));
        var distinct = tags.Distinct().ToArray();
        return Flow.Create<FrameWindow>().Select(w =>
        {
            try
            {
                using var pixels = Preprocess(w, device);
                return new TokenizedWindow(w, distinct.Select(tag => new TaggedWindow(w, pixels.alias(), tag)).ToArray());
            }
            catch (Exception e)
            {
                stats.RecordFailure(e);
                throw;
            }
        });
    }

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
