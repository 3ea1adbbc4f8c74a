using Akka.Actor;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Routing.Requests;
using UniPerceiverMoe.Model;
using static TorchSharp.torch;
using static UniPerceiverMoe.Actors.ExpertGroups.ExpertGroupProtocol;

namespace UniPerceiverMoe.Actors.Tests.ExpertGroups;

/// <summary>One <see cref="ExpertGroupActor"/> on its own (under the TestKit's guardian, which restarts a failed
/// actor): requests in, merged-linear replies and failures out, weights reloaded by a restart.</summary>
public sealed class ExpertGroupActorSpecs() : Akka.TestKit.Xunit2.TestKit(ActorSpecConfig.Config)
{
    private const int Width = 4;
    private static readonly MoeSite Site = new(0, MoeLinearKind.Dense);
    private static readonly ExpertGroupSpec Spec = new("G", [new ExpertKey(0, 0), new ExpertKey(0, 1), new ExpertKey(0, 2)]);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private readonly CountingLoader loader = new(Width);
    private readonly ExpertGroupFaults faults = new();

    private IActorRef StartGroup() => Sys.ActorOf(Props(Spec, loader.Load, "cpu", faults), "group");

    private static Tensor Input() => TorchScalar.Arange(3 * Width, CPU).to_type(ScalarType.Float32).reshape(3, Width);

    private void AssertApplied(IActorRef group, Route route)
    {
        using var x = Input();
        group.Tell(new Compute(new LinearRequest(Site, route), x.alias()));
        using var output = ExpectMsg<Computed>(Wait).Output;
        using var expected = ScaledIdentityWeights.Expected(x, route);
        Assert.True(expected.allclose(output), $"output of route {route} is not x·Σ g(e + 1)");
    }

    [Fact]
    public void ExpertGroup_should_reply_the_merged_linear_of_a_route_and_count_the_request()
    {
        var group = StartGroup();
        var route = new Route([0, 2], [0.25f, 0.75f]);
        AssertApplied(group, route);
        AssertApplied(group, route);

        group.Tell(GetStats.Instance);
        var stats = ExpectMsg<GroupCounters>(Wait);
        Assert.Equal(("G", 2L, 6L, 1, "cpu"), (stats.GroupId, stats.Requests, stats.Tokens, stats.MergedRoutes, stats.Device));
        Assert.Equal(1, loader.Loads);
        // The computing thread's CPU time, which a thread cannot use more of than the wall time it spent.
        Assert.True(stats.ComputeCpu > TimeSpan.Zero, "no compute CPU counted");
        Assert.True(stats.ComputeCpu <= stats.ComputeTime + TimeSpan.FromMilliseconds(1), $"compute CPU {stats.ComputeCpu} over its wall time {stats.ComputeTime}");
    }

    [Fact]
    public void ExpertGroup_should_apply_gelu_and_the_second_linear_of_a_fused_ffn()
    {
        var group = StartGroup();
        var first = new Route([1], [1f]);                         // ×2
        var second = new Route([2], [1f]);                        // ×3
        using var x = Input();
        group.Tell(new Compute(new FfnRequest(0, first, second), x.alias()));
        using var output = ExpectMsg<Computed>(Wait).Output;
        using var doubled = ScaledIdentityWeights.Expected(x, first);
        using var activated = nn.functional.gelu(doubled);
        using var expected = ScaledIdentityWeights.Expected(activated, second);
        Assert.True(expected.allclose(output));
    }

    [Fact]
    public void ExpertGroup_should_hand_an_echo_back_without_computing()
    {
        var group = StartGroup();
        using var x = Input();
        group.Tell(new Echo(x.clone()));
        using var output = ExpectMsg<Computed>(Wait).Output;
        Assert.True(x.equal(output).all().item<bool>());
        group.Tell(GetStats.Instance);
        Assert.Equal(0L, ExpectMsg<GroupCounters>(Wait).Requests);
    }

    [Fact]
    public void ExpertGroup_should_answer_an_expert_it_does_not_hold_with_a_failure_then_restart_with_reloaded_weights()
    {
        var group = StartGroup();
        using var x = Input();
        group.Tell(new Compute(new LinearRequest(Site, new Route([5], [1f])), x.alias()));
        var failure = ExpectMsg<Status.Failure>(Wait);
        var error = Assert.IsType<ExpertGroupException>(failure.Cause);
        Assert.Contains("expert group G", error.Message);
        Assert.Contains("does not hold expert 5 of layer 0", error.Message);

        AwaitCondition(() => loader.Loads == 2, Wait);          // the guardian restarted it: PreStart loaded again
        AssertApplied(group, new Route([1], [1f]));
    }

    [Fact]
    public void ExpertGroup_should_fail_an_injected_fault_once_and_serve_the_next_request_after_its_restart()
    {
        var group = StartGroup();
        Watch(group);
        faults.FailNext("G", 1);
        using var x = Input();
        group.Tell(new Compute(new LinearRequest(Site, new Route([0], [1f])), x.alias()));
        Assert.Contains("injected fault in expert group G", ExpectMsg<Status.Failure>(Wait).Cause.Message);
        AwaitCondition(() => loader.Loads == 2, Wait);
        AssertApplied(group, new Route([0, 1], [0.5f, 0.5f]));
        group.Tell(GetStats.Instance);
        Assert.Equal(1L, ExpectMsg<GroupCounters>(Wait).Requests);   // counters start again with the new incarnation
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));             // restarted, not stopped: no Terminated
    }

    [Fact]
    public void ExpertGroup_should_not_start_on_an_unknown_device()
    {
        var group = Sys.ActorOf(Props(Spec, loader.Load, "tpu:0", faults), "bad-device");
        Watch(group);
        ExpectTerminated(group, Wait);                           // the guardian stops an actor that fails to initialise
        Assert.Equal(0, loader.Loads);
    }
}
