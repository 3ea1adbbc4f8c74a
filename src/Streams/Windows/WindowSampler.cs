using UniPerceiverMoe.Model.Preprocessing;

namespace UniPerceiverMoe.Streams.Windows;

/// <summary>
/// Cuts a stream of consecutive frames into caption windows: window k starts at frame k * hop and takes
/// <c>window</c> frames <c>stride</c> frames apart (the reference's frame ids i * stride from the clip start, fps
/// already folded into the frame counts). Frames must arrive with consecutive indices. State is bounded: at most
/// ceil(span / hop) windows are open at once, span = (window - 1) * stride + 1 frames, and a frame is kept only
/// by the windows that sample it. Windows still open when the stream ends are incomplete and never emitted.
/// One instance per stream materialization (not thread-safe).
/// </summary>
public sealed class WindowSampler
{
    private readonly string streamId;
    private readonly int window, stride, hop;
    private readonly List<(long Start, long Sequence, List<VideoFrame> Frames)> open = [];
    private long nextStart, nextSequence, first = -1, expected;

    public WindowSampler(string streamId, int window, int strideFrames, int hopFrames)
    {
        if (window < 1 || strideFrames < 1 || hopFrames < 1)
            throw new ArgumentOutOfRangeException(nameof(window), $"window {window}, stride {strideFrames}, hop {hopFrames} must be >= 1");
        this.streamId = streamId;
        this.window = window;
        stride = strideFrames;
        hop = hopFrames;
    }

    /// <summary>Frames a window spans, first to last inclusive.</summary>
    public int Span => (window - 1) * stride + 1;

    /// <summary>Windows open right now (never more than ceil(Span / hop)).</summary>
    public int OpenWindows => open.Count;

    /// <summary>Feeds one frame; returns the windows it completes (usually none or one).</summary>
    public IReadOnlyList<FrameWindow> Push(TimedFrame timed)
    {
        var frame = timed.Frame;
        if (first < 0) { first = frame.Index; expected = frame.Index; }
        if (frame.Index != expected)
            throw new InvalidDataException($"stream {streamId}: frame {frame.Index} arrived where frame {expected} was expected (frames must be consecutive)");
        expected++;
        long i = frame.Index - first;
        if (i == nextStart)
        {
            open.Add((nextStart, nextSequence++, new List<VideoFrame>(window)));
            nextStart += hop;
        }

        List<FrameWindow>? done = null;
        for (int w = 0; w < open.Count; w++)
        {
            var (start, sequence, frames) = open[w];
            long offset = i - start;
            if (offset % stride != 0 || offset / stride >= window) continue;
            frames.Add(frame);
            if (frames.Count < window) continue;
            (done ??= []).Add(new FrameWindow(streamId, sequence, frames, timed.ArrivalTicks));
            open.RemoveAt(w--);
        }
        return done ?? (IReadOnlyList<FrameWindow>)[];
    }
}
