using System.Text;
using Akka.Actor;
using Akka.Cluster.Sharding;
using UniPerceiverMoe.Actors.Placement;
using static UniPerceiverMoe.Actors.Cluster.ExpertShardProtocol;

namespace UniPerceiverMoe.Actors.Cluster;

/// <summary>
/// Starts the expert-group shard region (expert nodes) or a proxy to it (frontends). Entity id = placement group id;
/// shard id = a stable hash of the entity id modulo upmoe.cluster.shards, identical in every process (never
/// <see cref="string.GetHashCode()"/>, which is randomised per process). Replica n of a group (<see cref="ReplicaIds"/>)
/// goes to shard "{hash of the base id}-r{n}", so the replicas of one group are sibling shards that
/// <see cref="ReplicaSpreadingAllocationStrategy"/> keeps on different nodes. An expert node serves only the group ids of
/// its placement plan: a message for any other id goes to the shard's one <see cref="RefusedEntityId"/> entity, which
/// answers it with a failure and counts it, so an unknown id never starts a group (nor loads a weight).
/// </summary>
public static class ExpertGroupSharding
{
    /// <summary>Hosts entities on this node (its roles must include the expert role).</summary>
    public static IActorRef StartRegion(ActorSystem system, ClusterSettings settings, ExpertNodeContext context)
    {
        var sharding = ClusterSharding.Get(system);
        var shardingSettings = ClusterShardingSettings.Create(system).WithRole(settings.ExpertRole);
        var served = context.Plan.Groups.Select(g => g.Id).ToHashSet(StringComparer.Ordinal);
        return sharding.Start(TypeName, id => id == RefusedEntityId ? UnknownGroupRefuser.Props(context) : EntityProps(id, context), shardingSettings,
            new GroupMessageExtractor(settings.Shards, served),
            new ReplicaSpreadingAllocationStrategy(sharding.DefaultShardAllocationStrategy(shardingSettings)), StopGroup.Instance);
    }

    /// <summary>Routes to entities hosted by expert-role nodes without hosting any here.</summary>
    public static IActorRef StartProxy(ActorSystem system, ClusterSettings settings) =>
        ClusterSharding.Get(system).StartProxy(TypeName, settings.ExpertRole, new GroupMessageExtractor(settings.Shards));

    /// <summary>The entity of every shard that answers messages for group ids outside the plan (no placement id starts with '~').</summary>
    public const string RefusedEntityId = "~refused";

    /// <summary>Entity id = <see cref="IGroupEnvelope.GroupId"/>; the message itself is delivered to the entity. With
    /// <paramref name="served"/> (expert nodes: the plan's group ids) any other id maps to <see cref="RefusedEntityId"/>.</summary>
    public sealed class GroupMessageExtractor(int shards, IReadOnlySet<string>? served = null) : IMessageExtractor
    {
        public string? EntityId(object message) => message switch
        {
            IGroupEnvelope e => served is null || served.Contains(e.GroupId) ? e.GroupId : RefusedEntityId,
            _ => null,
        };

        public object? EntityMessage(object message) => message;

        public string ShardId(object message) => message switch
        {
            IGroupEnvelope e => ShardOf(e.GroupId),
            _ => throw new ArgumentException($"{message.GetType().Name} is not addressed to an expert group."),
        };

        public string ShardId(string entityId, object? messageHint = null) => ShardOf(entityId);

        /// <summary>FNV-1a over the UTF-8 bytes of the (base) id: stable across processes and platforms.</summary>
        public string ShardOf(string entityId)
        {
            bool replica = ReplicaIds.TryParse(entityId, out var baseId, out int n);
            uint hash = 2166136261;
            foreach (var b in Encoding.UTF8.GetBytes(baseId)) hash = (hash ^ b) * 16777619;
            string shard = (hash % (uint)shards).ToString(System.Globalization.CultureInfo.InvariantCulture);
            return replica ? ReplicaIds.Of(shard, n) : shard;
        }
    }
}
