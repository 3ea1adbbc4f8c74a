using Akka.Actor;
using Akka.Cluster.Sharding;
using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Actors.Serialization;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Routing.Requests;
using static TorchSharp.torch;
using static UniPerceiverMoe.Actors.Cluster.ExpertShardProtocol;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>An expert node serves only the group ids of its placement; any other id is refused and starts nothing.</summary>
public sealed class UnknownGroupSpecs
{
    [Fact]
    public async Task Requests_for_group_ids_outside_the_plan_should_be_refused_counted_and_start_no_group()
    {
        await using var node = ExpertNode.Start(TestCluster.Config("experts", "per-layer"));
        node.Cluster.JoinSeedNodes([node.Address]);
        await node.WhenUp().WaitAsync(TimeSpan.FromSeconds(30));
        using var x = zeros(2, 8);
        var payload = TensorPayloads.FromTensor(x, WireDtype.Float32);
        var site = new MoeSite(0, MoeLinearKind.Linear1);
        var route = new Route([0, 1], [0.5f, 0.5f]);
        // Invented ids, a replica number the plan does not have, and one an attacker might vary without end.
        var invented = new[] { "no-such-group", node.Plan.Groups[0].Id + "-r99" }.Concat(Enumerable.Range(0, 20).Select(i => $"junk-{i}")).ToArray();
        foreach (var id in invented)
        {
            var reply = await node.Region.Ask<GroupFailed>(ComputeRequests.From(id, new LinearRequest(site, route), payload), TimeSpan.FromSeconds(30));
            Assert.Contains("not in this node's placement", reply.Reason);
            Assert.Equal(id, reply.GroupId);
        }
        Assert.Equal(invented.Length, node.Counters.UnknownGroupsRefused.Value);
        Assert.Equal(0, node.Counters.EntityStarts.Value);       // no group started, no weight loaded

        // A planned id does start its group (so the zero above is the refusal's doing).
        var planned = node.Plan.Groups[0].Id;
        var stats = await node.Region.Ask<object>(new GetGroupStats(planned), TimeSpan.FromSeconds(60));
        Assert.IsType<GroupStats>(stats);
        Assert.Equal(1, node.Counters.EntityStarts.Value);
        Assert.Equal(invented.Length, node.Counters.UnknownGroupsRefused.Value);
    }

    [Fact]
    public async Task An_idle_group_should_be_passivated_and_started_again_by_its_next_request()
    {
        await using var node = ExpertNode.Start(TestCluster.Config("experts", "per-layer", "akka.cluster.sharding.passivate-idle-entity-after = 1s"));
        node.Cluster.JoinSeedNodes([node.Address]);
        await node.WhenUp().WaitAsync(TimeSpan.FromSeconds(30));
        var planned = node.Plan.Groups[0].Id;
        async Task<bool> Hosted() =>
            (await node.Region.Ask<CurrentShardRegionState>(GetShardRegionState.Instance, TimeSpan.FromSeconds(10))).Shards.Any(s => s.EntityIds.Contains(planned));

        Assert.IsType<GroupStats>(await node.Region.Ask<object>(new GetGroupStats(planned), TimeSpan.FromSeconds(60)));
        Assert.True(await Hosted());
        await TestCluster.AwaitAsync(async () => !await Hosted(), TimeSpan.FromSeconds(30), "the idle group passivated");
        Assert.Equal(1, node.Counters.EntityStarts.Value);
        Assert.IsType<GroupStats>(await node.Region.Ask<object>(new GetGroupStats(planned), TimeSpan.FromSeconds(60)));
        Assert.Equal(2, node.Counters.EntityStarts.Value);
    }
}
