using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster.Sharding;
using UniPerceiverMoe.Actors.Cluster;

namespace UniPerceiverMoe.Actors.Tests.Cluster;

public sealed class ReplicaSpreadingAllocationStrategySpecs : IDisposable
{
    private readonly ActorSystem system = ActorSystem.Create("allocation-specs");
    private readonly IActorRef x, y;

    public ReplicaSpreadingAllocationStrategySpecs()
    {
        x = system.ActorOf(Props.Empty, "region-x");
        y = system.ActorOf(Props.Empty, "region-y");
    }

    /// <summary>Least-shard choice over exactly the regions it is offered; records the offers.</summary>
    private sealed class LeastShards : IShardAllocationStrategy
    {
        public List<IActorRef[]> Offered { get; } = [];
        public int Rebalances { get; private set; }

        public Task<IActorRef> AllocateShard(IActorRef requester, string shardId, IImmutableDictionary<IActorRef, IImmutableList<string>> current)
        {
            Offered.Add([.. current.Keys]);
            return Task.FromResult(current.OrderBy(r => r.Value.Count).ThenBy(r => r.Key.Path.Name).First().Key);
        }

        public Task<IImmutableSet<string>> Rebalance(IImmutableDictionary<IActorRef, IImmutableList<string>> current, IImmutableSet<string> inProgress)
        {
            Rebalances++;
            return Task.FromResult<IImmutableSet<string>>(ImmutableHashSet<string>.Empty);
        }
    }

    private IImmutableDictionary<IActorRef, IImmutableList<string>> Allocations(string[] onX, string[] onY) =>
        ImmutableDictionary<IActorRef, IImmutableList<string>>.Empty.Add(x, onX.ToImmutableList()).Add(y, onY.ToImmutableList());

    [Fact]
    public async Task A_replica_should_go_to_a_region_without_its_siblings_even_when_that_region_is_busier()
    {
        var inner = new LeastShards();
        var strategy = new ReplicaSpreadingAllocationStrategy(inner);
        var home = await strategy.AllocateShard(x, "7-r1", Allocations(["7-r0"], ["1", "2", "3"]));
        Assert.Equal(y, home);
        Assert.Equal(new[] { y }, inner.Offered.Single());
    }

    [Fact]
    public async Task With_fewer_regions_than_replicas_or_plain_shards_the_inner_choice_should_stand()
    {
        var inner = new LeastShards();
        var strategy = new ReplicaSpreadingAllocationStrategy(inner);
        Assert.Equal(x, await strategy.AllocateShard(y, "7-r2", Allocations(["7-r0"], ["7-r1", "1"])));   // both hold a sibling: least loaded
        Assert.Equal(y, await strategy.AllocateShard(x, "5", Allocations(["5-r0", "4"], [])));
        Assert.All(inner.Offered, offer => Assert.Equal(2, offer.Length));
    }

    [Fact]
    public async Task Rebalance_should_move_one_of_each_colocated_pair_when_another_region_holds_none_of_the_group()
    {
        var inner = new LeastShards();
        var strategy = new ReplicaSpreadingAllocationStrategy(inner);
        var moved = await strategy.Rebalance(Allocations(["7-r0", "7-r1", "9-r0", "9-r1"], []), ImmutableHashSet<string>.Empty);
        Assert.Equal(2, moved.Count);
        Assert.Single(moved, s => s.StartsWith("7-", StringComparison.Ordinal));
        Assert.Single(moved, s => s.StartsWith("9-", StringComparison.Ordinal));
        Assert.Equal(0, inner.Rebalances);

        // Already spread (or nowhere better to go): the inner strategy decides.
        Assert.Empty(await strategy.Rebalance(Allocations(["7-r0", "9-r1"], ["7-r1", "9-r0"]), ImmutableHashSet<string>.Empty));
        Assert.Empty(await strategy.Rebalance(ImmutableDictionary<IActorRef, IImmutableList<string>>.Empty.Add(x, ImmutableList.Create("7-r0", "7-r1")), ImmutableHashSet<string>.Empty));
        Assert.Equal(2, inner.Rebalances);
    }

    public void Dispose() => system.Terminate().Wait(TimeSpan.FromSeconds(10));
}
