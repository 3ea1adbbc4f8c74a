using System.Diagnostics;
using UniPerceiverMoe.TestSupport;

namespace UniPerceiverMoe.Host.Tests.Cli;

/// <summary>What one in-process run of <c>upmoe</c> printed and returned.</summary>
public sealed record CliRun(int ExitCode, string Out, string Err)
{
    public string[] ErrLines => Err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}\n--- stderr\n{Err}";
}

/// <summary>
/// Runs the command line in-process (Program.InvokeAsync with captured writers) against the golden tiny fixture.
/// Every run loads the 16 MB checkpoint itself; the vocabulary bank is built once into a per-run cache directory
/// and loaded from there afterwards.
/// </summary>
public static class CliHarness
{
    public static readonly string CacheDir = Path.Combine(Path.GetTempPath(), "upmoe-host-tests-" + Environment.ProcessId);

    public static string Vocab => Path.Combine(GoldenFixture.Directory, "..", "bpe_simple_vocab_16e6.txt.gz");

    /// <summary>--tensor spec of a fixture input.</summary>
    public static string Input(string name) => $"{GoldenFixture.File("inputs.safetensors")}:{name}";

    /// <summary>The engine options every run needs: the fixture checkpoint and vocabulary, the test cache, one thread.</summary>
    public static string[] Engine(string? checkpoint = null) =>
        ["--checkpoint", checkpoint ?? GoldenModel.CheckpointPath, "--vocab", Vocab, "--cache-dir", CacheDir, "--threads", "1"];

    public static async Task<CliRun> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = await Program.InvokeAsync(args, output, error);
        return new CliRun(code, output.ToString(), error.ToString());
    }

    /// <summary>A fresh temporary directory for one test's files.</summary>
    public static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "upmoe-host-tests-" + Environment.ProcessId, Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Writes a 2-second 320x240 25 fps testsrc MP4 with ffmpeg.</summary>
    public static string TestVideo(string dir)
    {
        var path = Path.Combine(dir, "testsrc.mp4");
        var info = new ProcessStartInfo("ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=duration=2:size=320x240:rate=25", "-pix_fmt", "yuv420p", path])
        {
            RedirectStandardError = true,
        };
        using var process = Process.Start(info)!;
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0 && File.Exists(path), $"ffmpeg failed ({process.ExitCode}): {stderr}");
        return path;
    }
}

/// <summary>CLI runs share the per-run bank cache and both cores: they run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public static class CliCollection
{
    public const string Name = "cli";
}
