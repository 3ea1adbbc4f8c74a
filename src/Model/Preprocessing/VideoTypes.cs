// Value types of the video input path: decoded frames, probe results, FFmpeg options, decode errors.
namespace UniPerceiverMoe.Model.Preprocessing;

/// <summary>One decoded frame. <paramref name="Index"/>: 0-based position in the decoded stream (after any fps
/// filter); <paramref name="Timestamp"/>: Index / output fps (nominal, from the stream start);
/// <paramref name="Rgb"/>: Height * Width * 3 interleaved RGB bytes, owned by the receiver.</summary>
public sealed record VideoFrame(int Index, TimeSpan Timestamp, byte[] Rgb, int Height, int Width);

/// <summary>What ffprobe reports for the first video stream. <paramref name="Fps"/> is avg_frame_rate (PyAV's
/// average_rate, which the reference samples with), falling back to r_frame_rate. <paramref name="FrameCount"/>
/// is the container's nb_frames (PyAV's stream.frames), or the decoded count when probing with counting, or null
/// when neither is known. Width/Height are the coded size (no rotation applied).</summary>
public sealed record VideoProbe(int Width, int Height, double Fps, long? FrameCount, TimeSpan? Duration);

/// <summary>How ffmpeg decodes. <see cref="Fps"/>: resample to this constant rate (ffmpeg's fps filter) instead of
/// passing every decoded frame through; <see cref="Width"/>/<see cref="Height"/>: scale in ffmpeg (bilinear) —
/// a fast path for previews, not bit-equal to the reference's torch resize, so leave them null for model input.</summary>
public sealed record FfmpegOptions
{
    public string FfmpegPath { get; init; } = "ffmpeg";
    public string FfprobePath { get; init; } = "ffprobe";
    public double? Fps { get; init; }
    public int? Width { get; init; }
    public int? Height { get; init; }
}

/// <summary>An input that ffmpeg / ffprobe could not read or decode (an IOException: InvalidDataException is sealed). <see cref="Reason"/> is ffmpeg's own message
/// (the last lines of its stderr) or a description of what was wrong.</summary>
public sealed class VideoDecodeException(string input, string reason, Exception? inner = null)
    : IOException($"video '{input}': {reason}", inner)
{
    public string Input { get; } = input;
    public string Reason { get; } = reason;
}
