// Port of the decode loop of the reference's video __getitem__ (video_raw.py / msvd.py): probe the frame count and
// fps, choose the eval frame indices, decode sequentially keeping only the chosen frames, stop once all are in,
// and stand the last decoded frame in for any that the decoder never produced.
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Preprocessing;

public static class VideoClipReader
{
    /// <summary>Decodes the frames named by <paramref name="clips"/> (e.g. <see cref="FrameSampler.EvalIndices"/>)
    /// and returns them as a new [clips, T, H, W, 3] uint8 tensor on <paramref name="device"/> (CPU when null),
    /// owned by the caller. ffmpeg is stopped as soon as the largest requested index has been read.</summary>
    public static async Task<Tensor> ReadClipsAsync(string input, IReadOnlyList<int[]> clips, FfmpegOptions? options = null,
        Device? device = null, CancellationToken cancellationToken = default)
    {
        if (clips.Count == 0 || clips.Any(c => c.Length == 0) || clips.Select(c => c.Length).Distinct().Count() != 1)
            throw new ArgumentException("expected one or more clips of the same non-zero length", nameof(clips));
        var wanted = clips.SelectMany(c => c).ToHashSet();
        var frames = new Dictionary<int, byte[]>();
        int height = 0, width = 0;
        await foreach (var frame in FfmpegVideoReader.ReadFramesAsync(input, options, cancellationToken).ConfigureAwait(false))
        {
            if (!wanted.Contains(frame.Index)) continue;
            frames[frame.Index] = frame.Rgb;
            (height, width) = (frame.Height, frame.Width);
            if (frames.Count == wanted.Count) break; // disposing the enumerator kills ffmpeg
        }
        if (frames.Count == 0)
            throw new VideoDecodeException(input, $"none of the requested frames ({string.Join(", ", wanted.Order().Take(8))}...) was decoded");

        int t = clips[0].Length;
        int frameBytes = height * width * 3;
        var all = new byte[(long)clips.Count * t * frameBytes];
        var decoded = frames.Keys.ToHashSet();
        for (int c = 0; c < clips.Count; c++)
        {
            var resolved = FrameSampler.SubstituteMissing(clips[c], decoded);
            for (int i = 0; i < t; i++)
                frames[resolved[i]].CopyTo(all, ((long)c * t + i) * frameBytes);
        }
        return tensor(all, [clips.Count, t, height, width, 3], ScalarType.Byte, device);
    }

    /// <summary>Probes <paramref name="input"/>, computes the reference eval indices (counting frames by decoding
    /// when the container does not say) and decodes them: [numClips, framesPerClip, H, W, 3] uint8.</summary>
    public static async Task<Tensor> ReadEvalClipsAsync(string input, int framesPerClip, int stride, int numClips = 1,
        FfmpegOptions? options = null, Device? device = null, CancellationToken cancellationToken = default)
    {
        if (options?.Fps is not null)
            throw new ArgumentException("the reference samples the stream as decoded: FfmpegOptions.Fps must be null", nameof(options));
        var probe = await FfmpegVideoReader.ProbeAsync(input, options, countFrames: true, cancellationToken).ConfigureAwait(false);
        if (probe.FrameCount is not { } total || total <= 0)
            throw new VideoDecodeException(input, "the frame count is unknown and counting found no frames");
        var clips = FrameSampler.EvalIndices(checked((int)total), probe.Fps, framesPerClip, stride, numClips);
        return await ReadClipsAsync(input, clips, options, device, cancellationToken).ConfigureAwait(false);
    }
}
