using Akka.Actor;
using UniPerceiverMoe.Actors.Placement;

namespace UniPerceiverMoe.Actors.ExpertGroups;

/// <summary>The expert host: parent and supervisor of the expert groups of one node.</summary>
public static class ExpertHostProtocol
{
    /// <summary>Replied with <see cref="Groups"/>.</summary>
    public sealed record GetGroups
    {
        public static readonly GetGroups Instance = new();
    }

    public sealed record Groups(IReadOnlyDictionary<string, IActorRef> ById);

    /// <summary>Props of a host of <paramref name="groups"/>, each computing on its device in <paramref name="devices"/>.</summary>
    public static Props Props(IReadOnlyList<ExpertGroupSpec> groups, Func<ExpertGroupSpec, IExpertWeightSource> loadWeights, DeviceAssignment devices,
        EngineCounters counters, ExpertGroupFaults? faults = null, string dispatcher = "upmoe-expert-dispatcher", MergeCacheLimit? cacheLimit = null) =>
        Akka.Actor.Props.Create(() => new ExpertHostActor(groups, loadWeights, devices, counters, faults ?? ExpertGroupFaults.None, dispatcher, cacheLimit));
}

/// <summary>
/// Creates one child per group and restarts a child that throws (its weights are reloaded in PreStart); every
/// restart is counted. Restarts are unlimited in number but the failed request itself is answered with a failure.
/// </summary>
public sealed class ExpertHostActor : ReceiveActor
{
    private readonly EngineCounters counters;

    public ExpertHostActor(IReadOnlyList<ExpertGroupSpec> groups, Func<ExpertGroupSpec, IExpertWeightSource> loadWeights, DeviceAssignment devices,
        EngineCounters counters, ExpertGroupFaults faults, string dispatcher, MergeCacheLimit? cacheLimit)
    {
        this.counters = counters;
        var refs = groups.ToDictionary(g => g.Id, g => Context.ActorOf(ExpertGroupProtocol.Props(g, loadWeights, devices.Of(g.Id), faults, dispatcher, cacheLimit), g.Id));
        var reply = new ExpertHostProtocol.Groups(refs);
        Receive<ExpertHostProtocol.GetGroups>(_ => Sender.Tell(reply));
    }

    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(ex =>
        {
            counters.GroupRestarts.Increment();
            return Directive.Restart;
        });
}
