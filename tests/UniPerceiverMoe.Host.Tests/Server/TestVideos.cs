using System.Diagnostics;

namespace UniPerceiverMoe.Host.Tests.Server;

/// <summary>Test media made with ffmpeg (testsrc: a moving pattern with a running counter).</summary>
public static class TestVideos
{
    /// <summary>A <paramref name="seconds"/>-second 320x240 25 fps MP4 in <paramref name="dir"/>.</summary>
    public static string Make(string dir, string name, int seconds)
    {
        string path = Path.Combine(dir, name);
        Ffmpeg("-f", "lavfi", "-i", $"testsrc=duration={seconds}:size=320x240:rate=25", "-pix_fmt", "yuv420p", path);
        return path;
    }

    public static void Ffmpeg(params string[] args)
    {
        var info = new ProcessStartInfo("ffmpeg", ["-v", "error", "-y", .. args]) { RedirectStandardError = true };
        using var process = Process.Start(info)!;
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"ffmpeg {string.Join(' ', args)} failed ({process.ExitCode}): {stderr}");
    }
}
