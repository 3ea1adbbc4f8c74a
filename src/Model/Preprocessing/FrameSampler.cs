// Port of the reference's eval frame sampling (uniperceiver/datasets/task_dataset/video_raw.py VideoDataSet:
// test-mode clip lengthening, _get_val_indices, the missing-frame fallback of __getitem__, and the 'v1' / 'v2'
// multi-view splits). Pure functions over frame indices; the decoding itself is FfmpegVideoReader's job.
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Preprocessing;

public static class FrameSampler
{
    /// <summary>The reference's target_fps: strides are expressed in frames of a 30 fps video.</summary>
    public const int TargetFps = 30;

    /// <summary>Frame indices of each eval clip (_get_val_indices). One array per clip (NUM_VIEWS = numClips), each of
    /// <paramref name="framesPerClip"/> indices in [0, totalFrames): frame i of a clip is
    /// int(i * stride * fps / 30 + start) % totalFrames, the starts being linspace(0, samplePos - 1, numClips)
    /// truncated to int as numpy 1.24 does (toward zero), samplePos = max(0, totalFrames - int(stride * fps / 30 * framesPerClip)).</summary>
    public static int[][] EvalIndices(int totalFrames, double fps, int framesPerClip, int stride, int numClips = 1, int targetFps = TargetFps)
    {
        if (totalFrames <= 0) throw new ArgumentOutOfRangeException(nameof(totalFrames), totalFrames, "a video needs at least one frame");
        if (!(fps > 0)) throw new ArgumentOutOfRangeException(nameof(fps), fps, "fps must be positive");
        if (framesPerClip <= 0 || stride <= 0 || numClips <= 0)
            throw new ArgumentOutOfRangeException(nameof(framesPerClip), $"framesPerClip {framesPerClip}, stride {stride}, numClips {numClips} must be positive");

        int maxFrameIdx = totalFrames - 1;
        // Python evaluates stride * fps / target_fps * frames_per_clip left to right in double.
        long span = (long)((double)stride * fps / targetFps * framesPerClip);
        long samplePos = Math.Max(0, 1 + maxFrameIdx - span);
        var starts = LinspaceInt(0, samplePos - 1, numClips);

        var clips = new int[numClips][];
        for (int c = 0; c < numClips; c++)
        {
            var ids = new int[framesPerClip];
            for (int i = 0; i < framesPerClip; i++)
            {
                // int(idx * interval * fps / target_fps + start_idx): (idx * interval) is an exact int product.
                long v = (long)((double)((long)i * stride) * fps / targetFps + starts[c]);
                ids[i] = (int)PythonMod(v, totalFrames);
            }
            clips[c] = ids;
        }
        return clips;
    }

    /// <summary>VideoDataSet's test-mode rewrite for multi-view eval: frames_per_clip * views frames at stride / views
    /// (K400: 8 frames, stride 32, 4 views -> 32 frames at stride 8). Views = 1 leaves both unchanged.</summary>
    public static (int FramesPerClip, int Stride) MultiViewClip(int framesPerClip, int stride, int temporalViews)
    {
        if (temporalViews <= 0) throw new ArgumentOutOfRangeException(nameof(temporalViews), temporalViews, "must be positive");
        return (framesPerClip * temporalViews, stride / temporalViews);
    }

    /// <summary>Positions (within a clip of <paramref name="clipLength"/> frames) that make up each view.
    /// 'v2' interleaves: view k = positions k, k + V, k + 2V, ...; 'v1' cuts contiguous chunks: view k = positions
    /// k * L/V .. (k + 1) * L/V - 1.</summary>
    public static int[][] ViewPositions(int clipLength, int temporalViews, MultiViewMode mode)
    {
        if (temporalViews <= 0 || clipLength % temporalViews != 0)
            throw new ArgumentException($"a clip of {clipLength} frames does not split into {temporalViews} views");
        int per = clipLength / temporalViews;
        var views = new int[temporalViews][];
        for (int k = 0; k < temporalViews; k++)
        {
            views[k] = new int[per];
            for (int j = 0; j < per; j++)
                views[k][j] = mode == MultiViewMode.V2 ? k + j * temporalViews : k * per + j;
        }
        return views;
    }

    /// <summary>The reference's tensor reshape for the multi-view modes: [N, L, ...] (N clips or spatial crops of L
    /// frames) -> [N * V, L / V, ...], view n * V + k holding the frames given by <see cref="ViewPositions"/>.
    /// Returns a new contiguous tensor owned by the caller; <paramref name="video"/> is not consumed.</summary>
    public static Tensor SplitViews(Tensor video, int temporalViews, MultiViewMode mode)
    {
        if (video.dim() < 2) throw new ArgumentException("expected [N, L, ...]", nameof(video));
        long n = video.size(0), l = video.size(1);
        if (temporalViews <= 0 || l % temporalViews != 0)
            throw new ArgumentException($"a clip of {l} frames does not split into {temporalViews} views");
        var rest = TensorShapes.Of(video)[2..];
        long[] outShape = [n * temporalViews, l / temporalViews, .. rest];
        using var scope = NewDisposeScope();
        // v1: contiguous chunks. v2: [N, L/V, V, ...] -> transpose -> [N, V, L/V, ...], so frame a*V + k lands in
        // view k at position a.
        var grouped = mode == MultiViewMode.V1
            ? video.reshape(outShape)
            : video.reshape([n, l / temporalViews, temporalViews, .. rest]).transpose(1, 2).reshape(outShape);
        return grouped.contiguous().clone().MoveToOuterDisposeScope();
    }

    /// <summary>__getitem__'s fallback when the decoder yields fewer frames than the container claims: a requested
    /// index that was not decoded is replaced by the last decoded requested index (the largest one).</summary>
    public static int[] SubstituteMissing(IReadOnlyList<int> requested, IReadOnlySet<int> decoded)
    {
        int last = -1;
        foreach (var i in requested) if (decoded.Contains(i) && i > last) last = i;
        if (last < 0) throw new InvalidDataException("none of the requested frames could be decoded");
        var result = new int[requested.Count];
        for (int i = 0; i < result.Length; i++) result[i] = decoded.Contains(requested[i]) ? requested[i] : last;
        return result;
    }

    /// <summary>np.linspace(start, stop, num, dtype=int) under numpy 1.24: i * ((stop - start) / (num - 1)) + start
    /// in double, last element exactly stop, cast toward zero.</summary>
    internal static long[] LinspaceInt(long start, long stop, int num)
    {
        var result = new long[num];
        if (num == 1) { result[0] = start; return result; }
        double step = (double)(stop - start) / (num - 1);
        for (int i = 0; i < num; i++)
        {
            double v = step == 0 ? (double)i / (num - 1) * (stop - start) + start : i * step + start;
            result[i] = (long)v;
        }
        result[num - 1] = stop;
        return result;
    }

    private static long PythonMod(long a, long m) => ((a % m) + m) % m;
}

/// <summary>DATALOADER.MULTI_VEIW: how a lengthened test clip is split into temporal views.</summary>
public enum MultiViewMode
{
    /// <summary>Contiguous chunks.</summary>
    V1,
    /// <summary>Interleaved frames (the K400 eval configs).</summary>
    V2,
}
