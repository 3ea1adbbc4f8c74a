using UniPerceiverMoe.Actors.Cluster;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>
/// An expert node leaves gracefully while requests flow: its groups are handed off and no request is lost. The node
/// that leaves is the oldest expert node, so the shard coordinator (a singleton on the oldest) moves too.
/// </summary>
[Trait("Category", "Golden")]
public sealed class GracefulLeaveSpecs(ITestOutputHelper output)
{
    [Fact]
    public async Task An_expert_node_leaving_mid_run_should_hand_off_its_groups_without_losing_a_request()
    {
        const string placement = "per-layer";
        await using var frontend = TestCluster.StartFrontend(placement);
        var leaving = TestCluster.StartExpert(frontend.Address, placement);
        ExpertNode? staying = null;
        try
        {
            await leaving.WhenUp().WaitAsync(TimeSpan.FromSeconds(30));
            staying = TestCluster.StartExpert(frontend.Address, placement);
            await TestCluster.AwaitFormedAsync(frontend, members: 3, expertRegions: 2);
            var before = await TestCluster.GroupHomesAsync(frontend);
            Assert.Contains(leaving.Address.ToString(), before.Values);

            var load = new RequestLoad(frontend.Engine, workers: 2);
            await TestCluster.AwaitAsync(() => load.Completed >= 4, TimeSpan.FromSeconds(30), "requests before the leave");
            var leftAt = load.Now;
            await leaving.LeaveAsync().WaitAsync(TimeSpan.FromSeconds(30));
            output.WriteLine($"left in {(load.Now - leftAt).TotalSeconds:0.00} s with {load.Completed} requests completed");
            int atLeave = load.Completed;
            await TestCluster.AwaitAsync(() => load.Completed >= atLeave + 4, TimeSpan.FromSeconds(30), "requests after the leave");
            await load.StopAsync();

            output.WriteLine($"issued {load.Issued}, completed {load.Completed}, failed {load.Failed}, wrong {load.Wrong}; " +
                string.Join(", ", frontend.Counters.Snapshot().Select(kv => $"{kv.Key}={kv.Value}")));
            foreach (var e in load.Errors) output.WriteLine("error: " + e);
            Assert.Equal(0, load.Failed);
            Assert.Equal(0, load.Wrong);
            Assert.Equal(load.Issued, load.Completed);
            Assert.Equal(load.Completed, frontend.Engine.Counters.RequestsCompleted.Value);
            var after = await TestCluster.GroupHomesAsync(frontend);
            Assert.All(after.Values, node => Assert.Equal(staying.Address.ToString(), node));
        }
        finally
        {
            await leaving.DisposeAsync();
            if (staying is not null) await staying.DisposeAsync();
        }
    }
}
