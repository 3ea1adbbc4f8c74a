// Video decoding through the ffmpeg program (the reference decodes with PyAV, FFmpeg's Python binding): ffprobe for
// size / fps / frame count, ffmpeg writing raw rgb24 frames to a pipe that is read only as the consumer pulls.
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace UniPerceiverMoe.Model.Preprocessing;

public static class FfmpegVideoReader
{
    /// <summary>Probes the first video stream of a file path or URL. With <paramref name="countFrames"/> and no
    /// frame count in the container, ffprobe decodes the stream to count (as the reference does when PyAV reports
    /// 0 frames). Throws <see cref="VideoDecodeException"/> for unreadable input.</summary>
    public static async Task<VideoProbe> ProbeAsync(string input, FfmpegOptions? options = null, bool countFrames = false,
        CancellationToken cancellationToken = default)
    {
        options ??= new FfmpegOptions();
        CheckLocalInput(input);
        var probe = await RunProbeAsync(input, options, count: false, cancellationToken).ConfigureAwait(false);
        if (probe.FrameCount is null && countFrames)
            probe = await RunProbeAsync(input, options, count: true, cancellationToken).ConfigureAwait(false);
        return probe;
    }

    /// <summary>Decodes every frame of the first video stream (each decoded frame once, in decode/presentation
    /// order, like PyAV's container.decode) as RGB. Frames are read from ffmpeg's pipe only when the consumer asks
    /// for the next one, so ffmpeg blocks instead of buffering the video. Stopping early or cancelling kills
    /// ffmpeg. Throws <see cref="VideoDecodeException"/> with ffmpeg's reason when the input cannot be decoded.</summary>
    public static async IAsyncEnumerable<VideoFrame> ReadFramesAsync(string input, FfmpegOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        options ??= new FfmpegOptions();
        if ((options.Width is null) != (options.Height is null))
            throw new ArgumentException("FfmpegOptions.Width and Height must be given together", nameof(options));
        var probe = await ProbeAsync(input, options, countFrames: false, cancellationToken).ConfigureAwait(false);
        int width = options.Width ?? probe.Width, height = options.Height ?? probe.Height;
        double fps = options.Fps ?? probe.Fps;
        int frameBytes = checked(width * height * 3);

        using var ff = FfmpegProcess.Start(options.FfmpegPath, DecodeArguments(input, options));
        var stdout = ff.Process.StandardOutput.BaseStream;
        int index = 0;
        try
        {
            while (true)
            {
                var buffer = new byte[frameBytes];
                int filled = await FillAsync(stdout, buffer, cancellationToken).ConfigureAwait(false);
                if (filled == 0) break;
                if (filled < frameBytes)
                {
                    await ff.Process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
                    throw new VideoDecodeException(input,
                        $"ffmpeg output ended inside frame {index} ({filled} of {frameBytes} bytes): {await ff.FinalStderrTailAsync().ConfigureAwait(false)}");
                }
                yield return new VideoFrame(index, TimeSpan.FromSeconds(index / fps), buffer, height, width);
                index++;
            }
            await ff.Process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            string tail = await ff.FinalStderrTailAsync().ConfigureAwait(false);
            if (ff.Process.ExitCode != 0)
                throw new VideoDecodeException(input, $"ffmpeg could not decode it (exit code {ff.Process.ExitCode}): {Reason(tail)}");
            if (index == 0)
                throw new VideoDecodeException(input, $"ffmpeg decoded no frames{(tail.Length > 0 ? ": " + tail : "")}");
        }
        finally
        {
            // Early break, cancellation or an exception: ffmpeg may still be blocked on the pipe.
            ff.KillIfRunning();
        }
    }

    /// <summary>ffmpeg arguments: raw rgb24 to stdout, every decoded frame passed through unless an fps is set
    /// (-vsync passthrough: spelled the pre-5.1 way so ffmpeg 4.x works too; newer versions accept it as an alias),
    /// no autorotation (PyAV returns coded frames), bilinear swscale (PyAV's reformat default).</summary>
    internal static List<string> DecodeArguments(string input, FfmpegOptions options)
    {
        var args = new List<string> { "-nostdin", "-hide_banner", "-v", "error", "-noautorotate", "-i", input, "-map", "0:v:0" };
        var filters = new List<string>();
        if (options.Fps is { } fps) filters.Add("fps=" + fps.ToString("R", CultureInfo.InvariantCulture));
        if (options.Width is { } w && options.Height is { } h) filters.Add($"scale={w}:{h}:flags=bilinear");
        if (filters.Count > 0) args.AddRange(["-vf", string.Join(",", filters)]);
        args.AddRange(["-vsync", "passthrough", "-sws_flags", "bilinear", "-an", "-sn", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]);
        return args;
    }

    private static async Task<VideoProbe> RunProbeAsync(string input, FfmpegOptions options, bool count, CancellationToken ct)
    {
        var args = new List<string> { "-v", "error", "-select_streams", "v:0" };
        if (count) args.Add("-count_frames");
        args.AddRange(["-show_entries", "stream=width,height,avg_frame_rate,r_frame_rate,nb_frames,nb_read_frames:format=duration",
            "-of", "json", input]);
        using var ff = FfmpegProcess.Start(options.FfprobePath, args);
        string json;
        try
        {
            json = await ff.Process.StandardOutput.ReadToEndAsync(ct).ConfigureAwait(false);
            await ff.Process.WaitForExitAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            ff.KillIfRunning();
        }
        string tail = await ff.FinalStderrTailAsync().ConfigureAwait(false);
        if (ff.Process.ExitCode != 0)
            throw new VideoDecodeException(input, $"ffprobe could not read it (exit code {ff.Process.ExitCode}): {Reason(tail)}");
        return ParseProbe(input, json, tail);
    }

    internal static VideoProbe ParseProbe(string input, string json, string stderrTail = "")
    {
        using var doc = JsonDocument.Parse(json);
        if (!doc.RootElement.TryGetProperty("streams", out var streams) || streams.GetArrayLength() == 0)
            throw new VideoDecodeException(input, $"no video stream{(stderrTail.Length > 0 ? ": " + stderrTail : "")}");
        var s = streams[0];
        int width = s.TryGetProperty("width", out var w) ? w.GetInt32() : 0;
        int height = s.TryGetProperty("height", out var h) ? h.GetInt32() : 0;
        if (width <= 0 || height <= 0) throw new VideoDecodeException(input, $"video stream has no frame size ({width}x{height})");
        double fps = Rate(s, "avg_frame_rate") ?? Rate(s, "r_frame_rate")
            ?? throw new VideoDecodeException(input, "video stream has no frame rate");
        long? frames = Count(s, "nb_frames") ?? Count(s, "nb_read_frames");
        TimeSpan? duration = null;
        if (doc.RootElement.TryGetProperty("format", out var f) && f.TryGetProperty("duration", out var d)
            && double.TryParse(d.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var sec))
            duration = TimeSpan.FromSeconds(sec);
        return new VideoProbe(width, height, fps, frames, duration);
    }

    /// <summary>"num/den" -> num / den; null for "0/0" or missing.</summary>
    private static double? Rate(JsonElement s, string name)
    {
        if (!s.TryGetProperty(name, out var v) || v.GetString() is not { } text) return null;
        var parts = text.Split('/');
        if (!double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var num)) return null;
        double den = 1;
        if (parts.Length == 2 && !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out den)) return null;
        return num > 0 && den > 0 ? num / den : null;
    }

    private static long? Count(JsonElement s, string name)
        => s.TryGetProperty(name, out var v) && long.TryParse(v.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : null;

    /// <summary>Fails early, with a plain message, for local files that are missing or empty (ffmpeg's own
    /// messages for those are terse). URLs (anything with "://") go straight to ffmpeg.</summary>
    private static void CheckLocalInput(string input)
    {
        ArgumentException.ThrowIfNullOrEmpty(input);
        if (input.Contains("://", StringComparison.Ordinal)) return;
        var info = new FileInfo(input);
        if (!info.Exists) throw new FileNotFoundException($"video '{input}' does not exist", input);
        if (info.Length == 0) throw new VideoDecodeException(input, "the file is empty (0 bytes)");
    }

    private static string Reason(string tail) => tail.Length > 0 ? tail : "ffmpeg printed no reason";

    /// <summary>Reads until <paramref name="buffer"/> is full or the stream ends; returns the bytes read.</summary>
    private static async Task<int> FillAsync(Stream stream, byte[] buffer, CancellationToken ct)
    {
        int filled = 0;
        while (filled < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer.AsMemory(filled), ct).ConfigureAwait(false);
            if (n == 0) break;
            filled += n;
        }
        return filled;
    }
}
