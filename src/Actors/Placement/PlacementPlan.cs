using UniPerceiverMoe.Model.Routing;

namespace UniPerceiverMoe.Actors.Placement;

/// <summary>One (MoE layer, expert) pair: a group that holds it holds that expert of all the layer's MoE linears.</summary>
public readonly record struct ExpertKey(int Layer, int Expert)
{
    public override string ToString() => $"L{Layer}E{Expert}";
}

/// <summary>An expert group: an id (also its actor name / shard entity id) and the experts it owns.</summary>
public sealed record ExpertGroupSpec(string Id, IReadOnlyList<ExpertKey> Experts)
{
    public bool Holds(int layer, int expert) => Experts.Contains(new ExpertKey(layer, expert));

    public override string ToString() => $"{Id} [{string.Join(" ", Experts)}]";
}

/// <summary>Which group applies which experts of a route: the route's experts split by holder (gates not renormalised,
/// so the partial outputs of all parts sum to the full merged linear). <see cref="Replicas"/> all hold the part.</summary>
public sealed record RoutePart(IReadOnlyList<string> Replicas, Route SubRoute);

/// <summary>
/// (layer, expert) → groups. Routes are split into the fewest parts: a group holding every expert of a route takes it
/// whole (one hop); otherwise each part goes to a holder of its experts and the caller sums the partial outputs.
/// Immutable; safe to share.
/// </summary>
public sealed class PlacementPlan
{
    private readonly Dictionary<ExpertKey, string[]> holders;

    public PlacementPlan(string strategy, IReadOnlyList<ExpertGroupSpec> groups)
    {
        if (groups.Select(g => g.Id).Distinct().Count() != groups.Count) throw new ArgumentException("group ids must be unique.");
        Strategy = strategy;
        Groups = groups;
        holders = groups.SelectMany(g => g.Experts.Select(e => (e, g.Id)))
            .GroupBy(x => x.e).ToDictionary(x => x.Key, x => x.Select(y => y.Id).ToArray());
    }

    public string Strategy { get; }

    public IReadOnlyList<ExpertGroupSpec> Groups { get; }

    public IReadOnlyList<string> HoldersOf(ExpertKey expert) =>
        holders.TryGetValue(expert, out var ids) ? ids : throw new InvalidOperationException($"no expert group holds {expert}.");

    /// <summary>How to compute <paramref name="route"/> at <paramref name="layer"/>: one part when some group holds it all.</summary>
    public IReadOnlyList<RoutePart> Split(int layer, Route route)
    {
        var whole = Groups.Where(g => route.Experts.All(e => g.Holds(layer, e))).Select(g => g.Id).ToArray();
        if (whole.Length > 0) return [new RoutePart(whole, route)];
        // Split route: each expert goes to its holders; experts with the same holder set travel together.
        return route.Experts.Select((e, i) => (Expert: e, Weight: route.Weights[i], Holders: HoldersOf(new ExpertKey(layer, e))))
            .GroupBy(x => string.Join(",", x.Holders))
            .Select(g => new RoutePart(g.First().Holders, new Route(g.Select(x => x.Expert).ToArray(), g.Select(x => x.Weight).ToArray())))
            .ToArray();
    }

    /// <summary>One line per group, for logs and the CLI.</summary>
    public string Describe() => $"placement {Strategy}: {Groups.Count} group(s)" + Environment.NewLine +
        string.Join(Environment.NewLine, Groups.Select(g => "  " + g));
}
