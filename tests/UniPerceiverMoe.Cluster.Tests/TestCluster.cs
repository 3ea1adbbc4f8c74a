using UniPerceiverMoe.Actors.Settings;
using System.Diagnostics;
using System.Reflection;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using Akka.Configuration;
using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.TestSupport;
using static UniPerceiverMoe.Actors.Cluster.ExpertShardProtocol;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>Configs and helpers for clusters on 127.0.0.1 (port 0) over the golden fixture's checkpoint.</summary>
public static class TestCluster
{
    public static readonly string CacheDir = Path.Combine(Path.GetTempPath(), "upmoe-cluster-tests-" + Environment.ProcessId);

    public static string HoconFile(string name) => Path.Combine(GoldenFixture.RepoRoot, "hocon", name);

    /// <summary>Settings every test node shares: any port, no configured seeds (tests join explicitly), the fixture model.</summary>
    public static string Common(string placement) => $"""
        akka.remote.dot-netty.tcp.port = 0
        akka.cluster.seed-nodes = []
        upmoe.engine.checkpoint = "{GoldenModel.CheckpointPath}"
        upmoe.engine.model-config = "{GoldenFixture.File("config.json")}"
        upmoe.engine.cache-dir = "{CacheDir}"
        upmoe.engine.torch-threads = 1
        upmoe.placement.strategy = {placement}
        """;

    /// <summary>A role file + the loopback overlay + <see cref="Common"/> + <paramref name="extra"/> over reference.conf.</summary>
    public static Config Config(string role, string placement, string extra = "") =>
        UpmoeConfig.Load([HoconFile(role + ".conf"), HoconFile("loopback.conf")], [Common(placement), extra]);

    /// <summary>A frontend over the shared golden model that joins itself (it is the seed).</summary>
    public static ClusterFrontend StartFrontend(string placement, string extra = "")
    {
        var frontend = ClusterFrontend.Start(Config("frontend", placement, extra), new ClusterFrontendOptions
        {
            Engine = new EngineStartOptions
            {
                Model = GoldenModel.Model,
                CheckpointPath = GoldenModel.CheckpointPath,
                Tokenizer = GoldenModel.Tokenizer,
            },
        });
        frontend.Cluster.JoinSeedNodes([frontend.Address]);
        return frontend;
    }

    public static ExpertNode StartExpert(Address seed, string placement, string extra = "") =>
        ExpertNode.Start(Config("experts", placement, extra), new ExpertNodeOptions { SeedNodes = [seed] });

    /// <summary>The command that runs tests/UniPerceiverMoe.ClusterNode (an expert node process) with this test run's dotnet host.</summary>
    public static IReadOnlyList<string> NodeCommand()
    {
        var dll = typeof(TestCluster).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "ClusterNodeDll").Value!;
        if (!File.Exists(dll)) throw new FileNotFoundException($"{dll} not found: build the solution (dotnet build) before running the tests.", dll);
        var host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h
            : Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self
            : "dotnet";
        return [host, dll];
    }

    /// <summary>Polls <paramref name="condition"/> every 50 ms until it holds; fails naming <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task AwaitAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > timeout) throw new TimeoutException($"{what}: not reached within {timeout.TotalSeconds:0} s");
            await Task.Delay(50);
        }
    }

    public static Task AwaitAsync(Func<bool> condition, TimeSpan timeout, string what) => AwaitAsync(() => Task.FromResult(condition()), timeout, what);

    /// <summary>Waits until <paramref name="members"/> members are Up and the coordinator knows <paramref name="expertRegions"/> expert regions.</summary>
    public static async Task AwaitFormedAsync(ClusterFrontend frontend, int members, int expertRegions)
    {
        await AwaitAsync(() => frontend.Cluster.State.Members.Count(m => m.Status == MemberStatus.Up) == members,
            TimeSpan.FromSeconds(30), $"{members} members Up");
        await AwaitAsync(async () => (await ExpertRegionsAsync(frontend)).Count == expertRegions, TimeSpan.FromSeconds(30),
            $"{expertRegions} expert regions registered");
    }

    /// <summary>Addresses of the expert regions the shard coordinator knows.</summary>
    public static async Task<IReadOnlyCollection<Address>> ExpertRegionsAsync(ClusterFrontend frontend)
    {
        try
        {
            var stats = await frontend.Region.Ask<ClusterShardingStats>(new GetClusterShardingStats(TimeSpan.FromSeconds(1)), TimeSpan.FromSeconds(3));
            return stats.Regions.Keys.ToArray();
        }
        catch (AskTimeoutException)
        {
            return [];
        }
    }

    /// <summary>group id → address of the node hosting it now (asking starts groups not yet started).</summary>
    public static async Task<IReadOnlyDictionary<string, string>> GroupHomesAsync(ClusterFrontend frontend)
    {
        var groups = frontend.Engine.Plan.Groups.Select(g => g.Id).ToArray();
        var replies = await Task.WhenAll(groups.Select(id => frontend.Region.Ask<GroupStats>(new GetGroupStats(id), TimeSpan.FromSeconds(10))));
        return replies.ToDictionary(r => r.GroupId, r => r.Node);
    }
}
