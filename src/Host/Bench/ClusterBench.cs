using UniPerceiverMoe.Bench.Cluster;
using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Model;
using UniPerceiverMoe.Model.Checkpoints;
using UniPerceiverMoe.Model.Inference;

namespace UniPerceiverMoe.Host.Bench;

/// <summary>
/// <c>upmoe bench cluster</c>: <see cref="ClusterBenchmark"/> with expert nodes run as <c>upmoe node</c> processes of this
/// same program. Without --checkpoint a random-weight checkpoint of the requested size is written to the cache
/// (with its config.json) so every process serves the same weights.
/// </summary>
/// <summary>What the command line chose for <see cref="ClusterBench.RunAsync"/>.</summary>
public sealed record ClusterBenchSettings(string Placement, int Requests, int Threads, int Concurrency, string WireDtype, int Replicas = 1,
    IReadOnlyList<string>? Sets = null);

public static class ClusterBench
{
    public static async Task RunAsync(string? checkpoint, string size, string cacheDir, TextWriter output, ClusterBenchSettings bench)
    {
        checkpoint ??= RandomCheckpoint(size, cacheDir, output);
        var hocon = FindHoconDirectory();
        var node = NodeCommand();
        await ClusterBenchmark.RunAsync(new ClusterBenchmarkOptions
        {
            Checkpoint = checkpoint,
            NodeCommand = node,
            HoconDirectory = hocon,
            Placement = bench.Placement,
            Requests = bench.Requests,
            TorchThreads = bench.Threads,
            Concurrency = bench.Concurrency,
            Replicas = bench.Replicas,
            Settings = [$"upmoe.cluster.wire-dtype = {bench.WireDtype}", .. bench.Sets ?? []],
        }, output);
    }

    /// <summary>This program with its leading arguments and "node": how benchmarks start <c>upmoe node</c> processes.</summary>
    internal static IReadOnlyList<string> NodeCommand()
    {
        string self = Environment.ProcessPath ?? "dotnet";
        return Path.GetFileNameWithoutExtension(self) == "dotnet"
            ? [self, typeof(ClusterBench).Assembly.Location, "node"]
            : [self, "node"];
    }

    internal static string RandomCheckpoint(string size, string cacheDir, TextWriter output)
    {
        var config = UniPerceiverConfig.Named(size);
        var dir = Path.Combine(cacheDir, "bench", $"random-{size}");
        var path = Path.Combine(dir, "model.safetensors");
        if (File.Exists(path)) return path;
        Directory.CreateDirectory(dir);
        output.WriteLine($"writing a random-weight {size} checkpoint to {path} …");
        using var model = ModelLoader.Random(config, seed: 0);
        SafeTensors.Save(path, model.state_dict());
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToFixtureJson(set: $"random-{size}"));
        return path;
    }

    /// <summary>hocon/ of the checkout this program runs from (role files of the nodes).</summary>
    internal static string FindHoconDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "hocon");
            if (File.Exists(Path.Combine(candidate, "experts.conf"))) return candidate;
        }
        throw new DirectoryNotFoundException($"no hocon/experts.conf above {AppContext.BaseDirectory}: run the cluster benchmark from a checkout.");
    }
}
