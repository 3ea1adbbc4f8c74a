using Akka.Actor;
using Akka.Event;
using static UniPerceiverMoe.Actors.Cluster.ExpertShardProtocol;

namespace UniPerceiverMoe.Actors.Cluster;

/// <summary>
/// The <see cref="ExpertGroupSharding.RefusedEntityId"/> entity of a shard: answers every message addressed to a group
/// id outside this node's placement with <see cref="GroupFailed"/> naming the id, and counts it. It holds no weights
/// and starts no group, so however many ids a peer invents, a node keeps at most one of these per shard (and idle
/// passivation stops it).
/// </summary>
public sealed class UnknownGroupRefuser : ReceiveActor
{
    public static Props Props(ExpertNodeContext context) => Akka.Actor.Props.Create(() => new UnknownGroupRefuser(context));

    public UnknownGroupRefuser(ExpertNodeContext context)
    {
        var log = Context.GetLogger();
        var served = $"{context.Plan.Strategy}, {context.Plan.Groups.Count} groups";
        Receive<StopGroup>(_ => Context.Stop(Self));
        Receive<IGroupEnvelope>(m =>
        {
            context.Counters.UnknownGroupsRefused.Increment();
            var reason = $"expert group '{Truncate(m.GroupId)}' is not in this node's placement ({served}); refused";
            // Logged at most once per 100 refusals: a peer inventing ids must not flood the log either.
            if (context.Counters.UnknownGroupsRefused.Value % 100 == 1) log.Warning("{0} (refusals so far: {1})", reason, context.Counters.UnknownGroupsRefused.Value);
            Sender.Tell(new GroupFailed(Truncate(m.GroupId), reason));
        });
    }

    private static string Truncate(string id) => id.Length <= 64 ? id : id[..64] + "…";
}
