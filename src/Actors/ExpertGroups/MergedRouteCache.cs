using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.ExpertGroups;

/// <summary>Byte budget of one group's merged-weight cache (upmoe.engine.merge-cache) and where its evictions are counted.</summary>
public sealed record MergeCacheLimit(long Bytes, Counter Evictions)
{
    public MergeCacheLimit Validate() =>
        Bytes >= 1 ? this : throw new Akka.Configuration.ConfigurationException($"upmoe.engine.merge-cache must be positive (got {Bytes} bytes).");
}

/// <summary>
/// Merged (weight, bias) per (site, sub-route), least recently used first out. Route weights arrive with requests
/// (in a cluster, from the wire), so the key space is unbounded: the cache keeps its bytes (tensors, and the panels
/// that small products build from them: up to as much again) within the limit by evicting when it adds an entry,
/// except that the entry just added always stays (one merged linear larger than the budget is computed and kept
/// alone). Owns its tensors: an evicted entry is disposed at once, so a caller uses what <see cref="GetOrAdd"/> returns
/// before the next call. Not thread-safe (one per actor).
/// </summary>
public sealed class MergedRouteCache(MergeCacheLimit? limit) : IDisposable
{
    private readonly Dictionary<(MoeSite, Route), LinkedListNode<Entry>> entries = new();
    private readonly LinkedList<Entry> recency = new();   // first = most recently used

    public int Count => entries.Count;
    /// <summary>Bytes held: merged tensors, and the panels of those that small products have used since.</summary>
    public long Bytes => recency.Sum(e => e.Merged.Bytes);
    public long Evictions { get; private set; }

    public LinearWeights GetOrAdd(MoeSite site, Route route, Func<(Tensor Weight, Tensor Bias)> merge)
    {
        if (entries.TryGetValue((site, route), out var node))
        {
            recency.Remove(node);
            recency.AddFirst(node);
            return node.Value.Merged;
        }
        var (weight, bias) = merge();
        var merged = new LinearWeights(weight, bias);
        var entry = new Entry((site, route), merged);
        entries[entry.Key] = recency.AddFirst(entry);
        while (limit is not null && Bytes > limit.Bytes && recency.Last is { } oldest && oldest != recency.First)
        {
            recency.RemoveLast();
            entries.Remove(oldest.Value.Key);
            oldest.Value.Merged.Dispose();
            Evictions++;
            limit.Evictions.Increment();
        }
        return merged;
    }

    public void Dispose()
    {
        foreach (var e in recency) e.Merged.Dispose();
        recency.Clear();
        entries.Clear();
    }

    private sealed record Entry((MoeSite, Route) Key, LinearWeights Merged);
}
