using System.ComponentModel;
using System.Diagnostics;

using UniPerceiverMoe.Model;

namespace UniPerceiverMoe.Demo.Synthetic;

/// <summary>
/// Writes a clip as a real video file through ffmpeg: every frame (not only the sampled ones) is rendered and piped
/// as raw rgb24. ".mp4" encodes H.264 (yuv420p), ".avi" / ".mjpeg" encode Motion JPEG. Used for the live demo and
/// for evaluating the model through the real decode path.
/// </summary>
public static class SyntheticVideoWriter
{
    public static async Task WriteAsync(SyntheticClip clip, SyntheticVideoOptions options, string path,
        string ffmpegPath = "ffmpeg", CancellationToken cancellation = default)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        int size = clip.CanvasSize;
        string ext = Path.GetExtension(path).ToLowerInvariant();
        string[] codec = ext is ".avi" or ".mjpeg"
            ? ["-c:v", "mjpeg", "-q:v", "2"]
            : ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast", "-crf", "18"];
        var psi = new ProcessStartInfo(ffmpegPath)
        {
            RedirectStandardInput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            CreateNoWindow = true,
        };
        foreach (var a in (string[])["-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", $"{size}x{size}",
            "-r", options.Fps.ToString(System.Globalization.CultureInfo.InvariantCulture), "-i", "pipe:0", .. codec, path])
            psi.ArgumentList.Add(a);
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException($"'{ffmpegPath}' could not be started.");
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException($"'{ffmpegPath}' could not be started ({e.Message}); install FFmpeg to write videos.", e);
        }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync(cancellation);
            try
            {
                var stdin = process.StandardInput.BaseStream;
                for (int f = 0; f < options.TotalFrames; f++)
                    await stdin.WriteAsync(ClipRenderer.RenderFrame(clip, f, options), cancellation).ConfigureAwait(false);
                stdin.Close();
                await process.WaitForExitAsync(cancellation).ConfigureAwait(false);
            }
            catch
            {
                if (!process.HasExited) process.Kill(entireProcessTree: true);
                throw;
            }
            string errors = (await stderr.ConfigureAwait(false)).Trim();
            if (process.ExitCode != 0)
                throw new IOException($"ffmpeg failed writing '{path}' (exit {process.ExitCode}): {errors}");
        }
    }
}
