using System.Diagnostics;

namespace UniPerceiverMoe.Streams.Tests.Support;

/// <summary>Short test videos made by ffmpeg's lavfi generators (320x240, 30 fps, 3 s = 90 frames), once per run,
/// plus a "video" of random bytes.</summary>
public static class TestVideos
{
    public const int Frames = 90;
    private static readonly string Dir = Path.Combine(Path.GetTempPath(), "upmoe-stream-videos-" + Environment.ProcessId);
    private static readonly Lazy<IReadOnlyList<string>> videos = new(() =>
    {
        Directory.CreateDirectory(Dir);
        return new[] { "testsrc", "testsrc2", "smptebars" }.Select(Make).ToArray();
    });

    /// <summary>Three different 3 s clips.</summary>
    public static IReadOnlyList<string> Clips => videos.Value;

    /// <summary>64 KiB of seeded random bytes named .mp4: ffprobe cannot read it.</summary>
    public static string Corrupt()
    {
        Directory.CreateDirectory(Dir);
        var path = Path.Combine(Dir, "corrupt.mp4");
        var bytes = new byte[64 * 1024];
        new Random(7).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>The frames of <paramref name="video"/> as numbered PNG files (lossless: the same RGB ffmpeg decodes the
    /// video to) in a new folder, decoded at 30 fps like the streams read the video.</summary>
    public static string PngFrames(string video)
    {
        var dir = Path.Combine(Dir, "png-" + Path.GetFileNameWithoutExtension(video) + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        Run(["-nostdin", "-y", "-v", "error", "-i", video, "-vf", "fps=30", Path.Combine(dir, "%04d.png")], dir);
        return dir;
    }

    private static void Run(string[] arguments, string what)
    {
        var psi = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"ffmpeg could not make {what}: {err}");
    }

    private static string Make(string generator)
    {
        var path = Path.Combine(Dir, generator + ".mp4");
        var psi = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "-nostdin", "-y", "-v", "error", "-f", "lavfi", "-i", $"{generator}=size=320x240:rate=30", "-t", "3",
                     "-pix_fmt", "yuv420p", path })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"ffmpeg could not make {path}: {err}");
        return path;
    }
}
