using Akka.Actor;
using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Actors.Serialization;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Routing.Requests;
using static TorchSharp.torch;
using static UniPerceiverMoe.Actors.Cluster.ExpertShardProtocol;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>A peer that varies the gate weights of its requests cannot grow an expert node's merged-weight cache.</summary>
public sealed class MergeCacheSpecs
{
    [Fact]
    public async Task Requests_with_ever_new_gate_weights_should_be_served_within_the_merge_cache_budget_and_evictions_counted()
    {
        // The golden tiny model's linear1 merges to 256 x 64 floats (65 KiB): this budget holds one merged route.
        await using var node = ExpertNode.Start(TestCluster.Config("experts", "per-layer", "upmoe.engine.merge-cache = 100KiB"));
        node.Cluster.JoinSeedNodes([node.Address]);
        await node.WhenUp().WaitAsync(TimeSpan.FromSeconds(30));
        var group = node.Plan.Groups[0];
        var held = group.Experts.GroupBy(e => e.Layer).First(g => g.Count() >= 2).Take(2).ToArray();
        var site = new MoeSite(held[0].Layer, MoeLinearKind.Linear1);
        using var x = ones(2, 64);
        var payload = TensorPayloads.FromTensor(x, WireDtype.Float32);
        const int routes = 12;
        for (int i = 0; i < routes; i++)
        {
            float w = 0.05f + 0.07f * i;
            var route = new Route([held[0].Expert, held[1].Expert], [w, 1 - w]);
            var reply = await node.Region.Ask<object>(ComputeRequests.From(group.Id, new LinearRequest(site, route), payload), TimeSpan.FromSeconds(60));
            var applied = Assert.IsType<RequestAnswered>(reply);
            Assert.Equal(new long[] { 2, 256 }, applied.Output.Shape.Select(s => (long)s).ToArray());
        }
        Assert.Equal(routes - 1, node.Counters.MergeEvictions.Value);
        var stats = Assert.IsType<GroupStats>(await node.Region.Ask<object>(new GetGroupStats(group.Id), TimeSpan.FromSeconds(30)));
        Assert.Equal(1, stats.MergedRoutes);
    }
}
