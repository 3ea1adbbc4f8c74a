using Akka.Actor;
using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Actors.Serialization;
using UniPerceiverMoe.Actors.Tests.ExpertGroups;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model;
using static TorchSharp.torch;
using static UniPerceiverMoe.Actors.Cluster.ExpertShardProtocol;

namespace UniPerceiverMoe.Actors.Tests.Cluster;

/// <summary>
/// The shard entity of one expert group on its own (no cluster, no shard region: the TestKit plays the region):
/// wire requests in, one reply each out (a result or <see cref="GroupFailed"/>), its group restarted on failure
/// without reloading the weights, and a hand-off stop that frees them.
/// </summary>
public sealed class ExpertGroupEntityActorSpecs() : Akka.TestKit.Xunit2.TestKit(ActorSpecConfig.Config)
{
    private const int Width = 4;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    /// <summary>Groups "L0" and "L1", each holding experts 0..3 of its layer.</summary>
    private static readonly PlacementPlan Plan = new("test",
        [new ExpertGroupSpec("L0", Enumerable.Range(0, 4).Select(e => new ExpertKey(0, e)).ToArray()),
         new ExpertGroupSpec("L1", Enumerable.Range(0, 4).Select(e => new ExpertKey(1, e)).ToArray())]);

    private readonly CountingLoader loader = new(Width);
    private readonly ExpertGroupFaults faults = new();
    private readonly ClusterCounters counters = new();
    private readonly DeviceBalancer devices = new(["cpu"], _ => 1);

    private IActorRef StartEntity(string groupId, TimeSpan? computeTimeout = null)
    {
        var context = new ExpertNodeContext(Plan, loader.Load, WireDtype.Float32, computeTimeout ?? Wait, devices, faults, counters, "akka.tcp://upmoe@127.0.0.1:1");
        return Sys.ActorOf(EntityProps(groupId, context), groupId);
    }

    private static Tensor Input() => TorchScalar.Arange(3 * Width, CPU).to_type(ScalarType.Float32).reshape(3, Width);

    private static ApplyLinearRequest Request(string groupId, Route route, Tensor x) =>
        new(groupId, 0, (int)MoeLinearKind.Linear2, WireRoute.From(route), TensorPayloads.FromTensor(x, WireDtype.Float32));

    private void AssertApplied(IActorRef entity, Route route)
    {
        using var x = Input();
        entity.Tell(Request("L0", route, x));
        var reply = ExpectMsg<RequestAnswered>(Wait);
        using var output = TensorPayloads.ToTensor(reply.Output);
        using var expected = ScaledIdentityWeights.Expected(x, route);
        Assert.True(expected.allclose(output), $"wire output of route {route} is not x·Σ g(e + 1)");
    }

    [Fact]
    public void ShardEntity_should_answer_a_wire_request_with_the_groups_result_and_report_its_stats()
    {
        var entity = StartEntity("L0");
        AssertApplied(entity, new Route([1, 3], [0.6f, 0.4f]));

        entity.Tell(new GetGroupStats("L0"));
        var stats = ExpectMsg<GroupStats>(Wait);
        Assert.Equal(("L0", "akka.tcp://upmoe@127.0.0.1:1", 1L, 3L, 1, "cpu"),
            (stats.GroupId, stats.Node, stats.Requests, stats.Tokens, stats.MergedRoutes, stats.Device));
        Assert.Equal((1L, 0L, 1L), (counters.EntityRequests.Value, counters.EntityFailures.Value, counters.EntityStarts.Value));
        Assert.Equal("cpu", devices.Of("L0"));
    }

    [Fact]
    public void ShardEntity_should_echo_a_probe_hop_bit_for_bit()
    {
        var entity = StartEntity("L0");
        using var x = Input();
        entity.Tell(new ProbeHop("L0", TensorPayloads.FromTensor(x, WireDtype.Float32)));
        using var echoed = TensorPayloads.ToTensor(ExpectMsg<RequestAnswered>(Wait).Output);
        Assert.True(x.equal(echoed).all().item<bool>());
    }

    [Fact]
    public void ShardEntity_should_answer_every_request_for_a_group_outside_its_placement_with_GroupFailed()
    {
        var entity = StartEntity("L9");
        using var x = Input();
        entity.Tell(Request("L9", new Route([0], [1f]), x));
        var failed = ExpectMsg<GroupFailed>(Wait);
        Assert.Equal("L9", failed.GroupId);
        Assert.Contains("is not in this node's placement (test, 2 groups)", failed.Reason);
        entity.Tell(new GetGroupStats("L9"));
        ExpectMsg<GroupFailed>(Wait);
        Assert.Equal(0, loader.Loads);
        Assert.Equal(1L, counters.EntityFailures.Value);         // stats are not requests
    }

    [Fact]
    public void ShardEntity_should_answer_GroupFailed_naming_the_reason_when_its_weights_do_not_load()
    {
        loader.Broken = true;
        IActorRef entity = ActorRefs.Nobody;
        EventFilter.Error(contains: "could not load its weights").ExpectOne(Wait, () => entity = StartEntity("L0", TimeSpan.FromSeconds(1)));
        // Until the group's Terminated reaches the entity, a request still goes to the stopped group and times out
        // (one reply each way): ask until the entity answers for itself.
        AwaitAssert(() =>
        {
            entity.Tell(new GetGroupStats("L0"));
            Assert.Contains("could not load its weights: cannot read the experts of L0", ExpectMsg<GroupFailed>(Wait).Reason);
        }, Wait);
        using var x = Input();
        entity.Tell(Request("L0", new Route([0], [1f]), x));
        Assert.Contains("could not load its weights", ExpectMsg<GroupFailed>(Wait).Reason);
    }

    [Fact]
    public void ShardEntity_should_fail_one_request_restart_its_group_and_keep_the_loaded_weights()
    {
        var entity = StartEntity("L0");
        AssertApplied(entity, new Route([0], [1f]));
        faults.FailNext("L0", 1);
        using var x = Input();
        entity.Tell(Request("L0", new Route([0], [1f]), x));
        var failed = ExpectMsg<GroupFailed>(Wait);
        Assert.Contains("injected fault in expert group L0", failed.Reason);

        AwaitCondition(() => counters.EntityRestarts.Value == 1, Wait);
        AssertApplied(entity, new Route([2], [1f]));
        Assert.Equal(1, loader.Loads);                           // the weights outlive the group's restart
        Assert.Equal((2L, 1L), (counters.EntityRequests.Value, counters.EntityFailures.Value));
    }

    [Fact]
    public void ShardEntity_should_stop_on_hand_off_free_its_weights_and_release_its_device()
    {
        var entity = StartEntity("L0");
        AssertApplied(entity, new Route([1], [1f]));
        Watch(entity);
        entity.Tell(StopGroup.Instance);
        ExpectTerminated(entity, Wait);
        Assert.True(loader.Sources.Single().Disposed);
        Assert.Throws<InvalidOperationException>(() => devices.Of("L0"));
    }
}
