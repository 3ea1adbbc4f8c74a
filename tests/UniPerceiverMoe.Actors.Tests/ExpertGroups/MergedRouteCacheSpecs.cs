using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Tests.ExpertGroups;

public sealed class MergedRouteCacheSpecs
{
    private static readonly MoeSite Site = new(0, MoeLinearKind.Linear1);
    private const long EntryBytes = (10 * 10 + 10) * sizeof(float);

    private static Route RouteOf(float w) => new([0, 1], [w, 1 - w]);

    private static (Tensor, Tensor) Merge() => (zeros(10, 10), zeros(10));

    [Fact]
    public void Routes_with_varied_gate_weights_should_stay_within_the_byte_budget_least_recently_used_out_and_be_counted()
    {
        var evictions = new Actors.Counter();
        using var cache = new MergedRouteCache(new MergeCacheLimit(2 * EntryBytes, evictions));
        var first = cache.GetOrAdd(Site, RouteOf(0.1f), Merge);
        cache.GetOrAdd(Site, RouteOf(0.2f), Merge);
        cache.GetOrAdd(Site, RouteOf(0.1f), () => throw new InvalidOperationException("a cached route is not merged again"));   // now most recent
        for (int i = 0; i < 100; i++) cache.GetOrAdd(Site, RouteOf(0.3f + i * 1e-3f), Merge);   // a peer varying the weights
        Assert.Equal(2, cache.Count);
        Assert.Equal(2 * EntryBytes, cache.Bytes);
        Assert.Equal(100, cache.Evictions);   // 102 routes merged, 2 kept
        Assert.Equal(100, evictions.Value);
        Assert.True(first.Weight.IsInvalid, "an evicted merge is released at once");
    }

    [Fact]
    public void A_merge_larger_than_the_budget_should_be_kept_alone()
    {
        var evictions = new Actors.Counter();
        using var cache = new MergedRouteCache(new MergeCacheLimit(EntryBytes / 2, evictions));
        cache.GetOrAdd(Site, RouteOf(0.1f), Merge);
        var second = cache.GetOrAdd(Site, RouteOf(0.2f), Merge);
        Assert.Equal(1, cache.Count);
        Assert.False(second.Weight.IsInvalid);
        Assert.Equal(1, evictions.Value);
    }

    [Fact]
    public void Without_a_limit_the_cache_should_keep_every_route()
    {
        using var cache = new MergedRouteCache(null);
        for (int i = 0; i < 20; i++) cache.GetOrAdd(Site, RouteOf(i / 20f), Merge);
        Assert.Equal(20, cache.Count);
        Assert.Equal(0, cache.Evictions);
    }
}
