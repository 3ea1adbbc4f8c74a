// Shared helpers of the preprocessing specs: golden inputs (UPMOE_GOLDEN, default ../shared/golden/tiny beside the
// repository root), a temp folder, and running the ffmpeg program to make test media.
using System.Diagnostics;
using UniPerceiverMoe.Model.Checkpoints;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Preprocessing;

internal static class PreprocessingFixtures
{
    public static string GoldenDirectory { get; } = Path.GetFullPath(
        Environment.GetEnvironmentVariable("UPMOE_GOLDEN") is { Length: > 0 } dir ? dir : Path.Combine(FindRepoRoot(), "..", "shared", "golden", "tiny"));

    private static readonly Lazy<Dictionary<string, Tensor>> inputs = new(() => SafeTensors.Load(Path.Combine(GoldenDirectory, "inputs.safetensors")));

    /// <summary>A tensor of inputs.safetensors, loaded once and shared read-only (never dispose it).</summary>
    public static Tensor Input(string name) =>
        inputs.Value.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"inputs.safetensors in {GoldenDirectory} has no tensor '{name}'");

    public static byte[] Bytes(Tensor t)
    {
        using var c = t.cpu().contiguous();
        return c.bytes.ToArray();
    }

    /// <summary>Runs ffmpeg with <paramref name="args"/> and fails the test with its stderr when it fails.</summary>
    public static void Ffmpeg(params string[] args)
    {
        var psi = new ProcessStartInfo("ffmpeg") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "-nostdin", "-hide_banner", "-v", "error", "-y" }.Concat(args)) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"ffmpeg {string.Join(' ', args)} failed: {err}");
    }

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "UniPerceiverMoe.Actors.sln"))) return d.FullName;
        throw new InvalidOperationException($"no UniPerceiverMoe.Actors.sln above {AppContext.BaseDirectory}");
    }
}

/// <summary>A fresh temporary folder, deleted on dispose.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("upmoe-pre-").FullName;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Tests that start ffmpeg run one class at a time, so process checks see only their own children.</summary>
[CollectionDefinition("ffmpeg", DisableParallelization = true)]
public sealed class FfmpegCollection;
