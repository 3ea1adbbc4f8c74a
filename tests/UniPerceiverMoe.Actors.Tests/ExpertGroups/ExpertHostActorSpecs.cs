using Akka.Actor;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Routing.Requests;
using UniPerceiverMoe.Model;
using static TorchSharp.torch;
using static UniPerceiverMoe.Actors.ExpertGroups.ExpertGroupProtocol;

namespace UniPerceiverMoe.Actors.Tests.ExpertGroups;

/// <summary>The <see cref="ExpertHostActor"/> on its own: it creates a child per group, lists them, and restarts (and
/// counts) a child that fails, leaving its siblings alone.</summary>
public sealed class ExpertHostActorSpecs() : Akka.TestKit.Xunit2.TestKit(ActorSpecConfig.Config)
{
    private const int Width = 4;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static readonly MoeSite Site = new(0, MoeLinearKind.QkvProj);

    private static readonly ExpertGroupSpec[] Specs =
    [
        new("A", [new ExpertKey(0, 0), new ExpertKey(0, 1)]),
        new("B", [new ExpertKey(0, 2), new ExpertKey(0, 3)]),
    ];

    private readonly CountingLoader loader = new(Width);
    private readonly ExpertGroupFaults faults = new();
    private readonly EngineCounters counters = new();

    private IReadOnlyDictionary<string, IActorRef> StartHost()
    {
        var devices = DeviceAssignment.All(new PlacementPlan("test", Specs), "cpu");
        var host = Sys.ActorOf(ExpertHostProtocol.Props(Specs, loader.Load, devices, counters, faults), "experts");
        host.Tell(ExpertHostProtocol.GetGroups.Instance);
        return ExpectMsg<ExpertHostProtocol.Groups>(Wait).ById;
    }

    private Tensor Apply(IActorRef group, Route route)
    {
        group.Tell(new Compute(new LinearRequest(Site, route), ones(2, Width)));
        return ExpectMsg<Computed>(Wait).Output;
    }

    [Fact]
    public void ExpertHost_should_start_one_child_per_group_and_list_them()
    {
        var groups = StartHost();
        Assert.Equal(["A", "B"], groups.Keys.Order());
        foreach (var (id, group) in groups)
        {
            Assert.Equal($"/user/experts/{id}", group.Path.ToStringWithoutAddress());
            group.Tell(GetStats.Instance);
            var stats = ExpectMsg<GroupCounters>(Wait);
            Assert.Equal((id, "cpu"), (stats.GroupId, stats.Device));
        }
        Assert.Equal(1, loader.LoadsOf("A"));
        Assert.Equal(1, loader.LoadsOf("B"));
    }

    [Fact]
    public void ExpertHost_should_restart_a_failing_group_count_it_and_leave_its_siblings_alone()
    {
        var groups = StartHost();
        using (Apply(groups["B"], new Route([2], [1f]))) { }
        faults.FailNext("A", 1);
        groups["A"].Tell(new Compute(new LinearRequest(Site, new Route([0], [1f])), ones(2, Width)));
        Assert.IsType<ExpertGroupException>(ExpectMsg<Status.Failure>(Wait).Cause);

        AwaitCondition(() => counters.GroupRestarts.Value == 1 && loader.LoadsOf("A") == 2, Wait);
        using var again = Apply(groups["A"], new Route([1], [1f]));
        using var expected = TorchScalar.Use(2.0, two => ones(2, Width).mul(two));
        Assert.True(expected.allclose(again));                  // the same child path serves again, weights reloaded
        Assert.Equal(1, loader.LoadsOf("B"));
        groups["B"].Tell(GetStats.Instance);
        Assert.Equal(1L, ExpectMsg<GroupCounters>(Wait).Requests); // B kept its state: it was not restarted
    }

    [Fact]
    public void ExpertHost_should_restart_a_group_as_often_as_it_fails()
    {
        var groups = StartHost();
        for (int i = 1; i <= 3; i++)
        {
            faults.FailNext("B", 1);
            groups["B"].Tell(new Compute(new LinearRequest(Site, new Route([3], [1f])), ones(2, Width)));
            ExpectMsg<Status.Failure>(Wait);
            int restarts = i;
            AwaitCondition(() => counters.GroupRestarts.Value == restarts, Wait);
        }
        Assert.Equal(4, loader.LoadsOf("B"));
        using (Apply(groups["B"], new Route([2, 3], [0.5f, 0.5f]))) { }
    }
}
