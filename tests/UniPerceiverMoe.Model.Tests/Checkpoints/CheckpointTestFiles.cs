// Test helper: where the golden fixtures are, scratch files, and a synchronous progress recorder.
namespace UniPerceiverMoe.Model.Tests.Checkpoints;

internal static class CheckpointTestFiles
{
    /// <summary>The golden model.pth: $UPMOE_GOLDEN/model.pth, else ../shared/golden/tiny beside the repository root.</summary>
    public static string GoldenModel
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("UPMOE_GOLDEN");
            var dir = string.IsNullOrEmpty(env) ? Path.Combine(RepoRoot(), "..", "shared", "golden", "tiny") : env;
            var path = Path.GetFullPath(Path.Combine(dir, "model.pth"));
            return File.Exists(path) ? path : throw new FileNotFoundException($"golden model not found at {path} (set UPMOE_GOLDEN)");
        }
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "UniPerceiverMoe.Actors.sln"))) return d.FullName;
        throw new DirectoryNotFoundException($"no UniPerceiverMoe.Actors.sln above {AppContext.BaseDirectory}");
    }
}

/// <summary>A scratch directory removed on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public string Root { get; } = Directory.CreateTempSubdirectory("upmoe-ckpt-").FullName;

    public string File(string name) => Path.Combine(Root, name);

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

/// <summary>Records reports on the calling thread (<see cref="Progress{T}"/> would post them asynchronously).</summary>
internal sealed class RecordingProgress : IProgress<double>
{
    public List<double> Values { get; } = new();

    public void Report(double value) => Values.Add(value);
}
