using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.TestSupport;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>
/// One frontend (seed) and two expert nodes in this process, per-expert placement (a group per expert of every MoE layer, every top-2 route split
/// over two groups) and a remote frame of 192 KiB so the wider MoE linears are split over several messages. The
/// vocabulary bank is prebuilt into the cache directory, which the cluster frontend loads.
/// </summary>
public sealed class InProcessClusterFixture : IAsyncLifetime
{
    public const string Placement = "per-expert";
    public const string SmallFrame = "akka.remote.dot-netty.tcp.maximum-frame-size = 192KiB";

    public ClusterFrontend Frontend { get; private set; } = null!;
    public ExpertNode[] Experts { get; private set; } = [];

    public async Task InitializeAsync()
    {
        VocabularyBankCache.LoadOrBuild(GoldenModel.Runner, GoldenModel.CheckpointPath, TestCluster.CacheDir).Dispose();
        Frontend = TestCluster.StartFrontend(Placement, SmallFrame);
        Experts = [TestCluster.StartExpert(Frontend.Address, Placement, SmallFrame), TestCluster.StartExpert(Frontend.Address, Placement, SmallFrame)];
        await TestCluster.AwaitFormedAsync(Frontend, members: 3, expertRegions: 2);
    }

    public async Task DisposeAsync()
    {
        // One at a time, non-seed nodes first: concurrent leaving stalls nodes in cluster-exiting for 10 s.
        foreach (var expert in Experts) await expert.DisposeAsync();
        await Frontend.DisposeAsync();
    }
}
