using System.Collections.Concurrent;
using UniPerceiverMoe.Model.Modules;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Routing;

/// <summary>
/// Merged (weight, bias) per (site, route), built on first use and kept: the reference re-merges g1·W1 + g2·W2 on
/// every call of every MoE linear; we merge once. Each entry's panels are built by its first small product
/// (<see cref="LinearWeights"/>). The cache owns its tensors until disposed.
/// </summary>
public sealed class MergedWeightCache : IDisposable
{
    private readonly Func<MoeSite, Route, (Tensor Weight, Tensor Bias)> merge;
    private readonly ConcurrentDictionary<(MoeSite Site, Route Route), Lazy<LinearWeights>> entries = new();

    public MergedWeightCache(Func<MoeSite, Route, (Tensor Weight, Tensor Bias)> merge) => this.merge = merge;

    public int Count => entries.Count;

    /// <summary>Bytes held by merged weights and biases, and the panels of those that small products used.</summary>
    public long Bytes => entries.Values.Where(l => l.IsValueCreated).Sum(l => l.Value.Bytes);

    /// <summary>The merged linear of <paramref name="route"/> at <paramref name="site"/>; still owned by the cache.</summary>
    public LinearWeights Get(MoeSite site, Route route) =>
        entries.GetOrAdd((site, route), key => new Lazy<LinearWeights>(() =>
        {
            // Cached tensors outlive any DisposeScope the first caller may be running in.
            var (w, b) = merge(key.Site, key.Route);
            return new LinearWeights(w.DetachFromDisposeScope(), b.DetachFromDisposeScope());
        })).Value;

    public void Dispose()
    {
        foreach (var l in entries.Values)
        {
            if (l.IsValueCreated) l.Value.Dispose();
        }
        entries.Clear();
    }
}
