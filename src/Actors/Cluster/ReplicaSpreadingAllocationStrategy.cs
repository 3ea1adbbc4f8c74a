using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster.Sharding;
using UniPerceiverMoe.Actors.Placement;

namespace UniPerceiverMoe.Actors.Cluster;

/// <summary>
/// Akka's least-shard allocation, made replica-aware: shards "K-r0", "K-r1", … (<see cref="ReplicaIds"/>; the
/// replicas of one group) are siblings. A new shard goes to the least-loaded region holding none of its siblings,
/// when one exists; otherwise (fewer nodes than replicas) to the least-loaded region of all. Rebalancing first moves
/// a shard away from a region that holds one of its siblings, when another region holds none (e.g. after the node
/// that had crashed rejoins); the moved shard is placed by the rule above. Everything else is the inner strategy's.
/// Invariant: with at least as many expert nodes as replicas, a crash takes at most one replica of any group.
/// </summary>
public sealed class ReplicaSpreadingAllocationStrategy(IShardAllocationStrategy inner) : IActorSystemDependentAllocationStrategy
{
    public void Start(ActorSystem system)
    {
        if (inner is IActorSystemDependentAllocationStrategy dependent) dependent.Start(system);
        else if (inner is IStartableAllocationStrategy startable) startable.Start();
    }

    public Task<IActorRef> AllocateShard(IActorRef requester, string shardId, IImmutableDictionary<IActorRef, IImmutableList<string>> currentShardAllocations)
    {
        if (!ReplicaIds.TryParse(shardId, out var group, out _)) return inner.AllocateShard(requester, shardId, currentShardAllocations);
        var apart = currentShardAllocations.Where(r => !r.Value.Any(s => IsSiblingOf(s, group, shardId))).ToImmutableDictionary();
        return inner.AllocateShard(requester, shardId, apart.Count > 0 ? apart : currentShardAllocations);
    }

    public Task<IImmutableSet<string>> Rebalance(IImmutableDictionary<IActorRef, IImmutableList<string>> currentShardAllocations, IImmutableSet<string> rebalanceInProgress)
    {
        // One shard per group per round: moving both of a co-located pair would only swap them.
        var misplaced = Misplaced(currentShardAllocations).Where(s => !rebalanceInProgress.Contains(s))
            .DistinctBy(s => GroupOf(s) ?? s).ToImmutableHashSet();
        return misplaced.Count > 0 || rebalanceInProgress.Count > 0
            ? Task.FromResult<IImmutableSet<string>>(misplaced)
            : inner.Rebalance(currentShardAllocations, rebalanceInProgress);
    }

    /// <summary>Shards sharing a region with a sibling while some other region holds no replica of their group.</summary>
    public static IEnumerable<string> Misplaced(IImmutableDictionary<IActorRef, IImmutableList<string>> allocations)
    {
        foreach (var (region, shards) in allocations.OrderBy(r => r.Key.Path.ToString(), StringComparer.Ordinal))
            foreach (var shard in shards.Order(StringComparer.Ordinal))
            {
                if (!ReplicaIds.TryParse(shard, out var group, out _)) continue;
                if (!shards.Any(s => IsSiblingOf(s, group, shard))) continue;
                if (allocations.Any(r => !r.Key.Equals(region) && !r.Value.Any(s => GroupOf(s) == group)))
                    yield return shard;
            }
    }

    private static bool IsSiblingOf(string candidate, string group, string shard) => candidate != shard && GroupOf(candidate) == group;

    /// <summary>The group whose replica a shard holds; null for a shard of unreplicated groups.</summary>
    private static string? GroupOf(string shard) => ReplicaIds.TryParse(shard, out var group, out _) ? group : null;
}
