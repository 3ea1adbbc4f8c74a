using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Model;
using UniPerceiverMoe.Model.Routing;

namespace UniPerceiverMoe.Actors.Placement;

/// <summary>Builds placement plans (see upmoe.placement in hocon/reference.conf for the strategies).</summary>
public static class PlacementPlanner
{
    public static PlacementPlan Plan(PlacementSettings settings, UniPerceiverConfig config, RouteTable routes) => Plan(settings, config, () => routes);

    /// <summary>As above; <paramref name="routes"/> is called only by the strategy that needs the gates (route-aware).</summary>
    public static PlacementPlan Plan(PlacementSettings settings, UniPerceiverConfig config, Func<RouteTable> routes) => WithReplicas(settings.Strategy switch
    {
        PlacementStrategy.Single => Single(config),
        PlacementStrategy.PerLayer => PerLayer(config),
        PlacementStrategy.PerExpert => PerExpert(config),
        PlacementStrategy.NPerLayer => NPerLayer(config, settings.GroupsPerLayer),
        PlacementStrategy.RouteAware => RouteAware(config, routes(), settings.Attributes),
        var unknown => throw new ArgumentOutOfRangeException(nameof(settings), unknown, $"placement strategy {unknown} has no planner."),
    }, settings.Replicas);

    /// <summary>Every group of <paramref name="plan"/> <paramref name="replicas"/> times, ids <c>{id}-r{n}</c>
    /// (<see cref="ReplicaIds"/>): every route part then lists all replicas, so the dispatcher can spread load over them
    /// and fail over when one's node is gone. One replica keeps the plan as it is.</summary>
    public static PlacementPlan WithReplicas(PlacementPlan plan, int replicas)
    {
        if (replicas < 1) throw new ArgumentOutOfRangeException(nameof(replicas), "replicas must be >= 1.");
        if (replicas == 1) return plan;
        return new PlacementPlan(plan.Strategy, plan.Groups
            .SelectMany(g => Enumerable.Range(0, replicas).Select(r => g with { Id = ReplicaIds.Of(g.Id, r) }))
            .ToArray());
    }

    /// <summary>One group with every expert of every MoE layer.</summary>
    public static PlacementPlan Single(UniPerceiverConfig config) =>
        new("single", [new ExpertGroupSpec("g0", AllExperts(config).ToArray())]);

    /// <summary>One group per MoE layer.</summary>
    public static PlacementPlan PerLayer(UniPerceiverConfig config) =>
        new("per-layer", config.MoeLayers.Select(l => new ExpertGroupSpec($"L{l}",
            Enumerable.Range(0, config.Experts).Select(e => new ExpertKey(l, e)).ToArray())).ToArray());

    /// <summary>One group per (layer, expert): every top-2 route is split over two groups.</summary>
    public static PlacementPlan PerExpert(UniPerceiverConfig config) =>
        new("per-expert", AllExperts(config).Select(k => new ExpertGroupSpec($"L{k.Layer}E{k.Expert}", [k])).ToArray());

    /// <summary><paramref name="groupsPerLayer"/> groups per MoE layer, experts dealt round-robin.</summary>
    public static PlacementPlan NPerLayer(UniPerceiverConfig config, int groupsPerLayer) =>
        new("n-per-layer", config.MoeLayers.SelectMany(l => Enumerable.Range(0, Math.Min(groupsPerLayer, config.Experts)).Select(g =>
            new ExpertGroupSpec($"L{l}G{g}", Enumerable.Range(0, config.Experts).Where(e => e % groupsPerLayer == g)
                .Select(e => new ExpertKey(l, e)).ToArray()))).ToArray());

    /// <summary>
    /// One group per distinct expert set that some route in use needs (over both gates of each MoE layer and the
    /// given attributes), so every MoE linear is one hop; an expert shared by several routes is replicated into each
    /// of their groups. Sets contained in a larger set are dropped.
    /// </summary>
    public static PlacementPlan RouteAware(UniPerceiverConfig config, RouteTable routes, IEnumerable<MoeAttribute> attributes)
    {
        var attributeList = attributes.ToArray();
        var groups = new List<ExpertGroupSpec>();
        foreach (var layer in config.MoeLayers)
        {
            var sets = Enum.GetValues<MoeGateKind>()
                .Select(g => new MoeSite(layer, g == MoeGateKind.Attention ? MoeLinearKind.QkvProj : MoeLinearKind.Linear1))
                .Where(s => routes.HasGate(s))
                .SelectMany(s => routes.RoutesAt(s, attributeList))
                .Select(r => r.Experts.Order().ToArray())
                .DistinctBy(e => string.Join(",", e))
                .ToList();
            var maximal = sets.Where(s => !sets.Any(o => o.Length > s.Length && s.All(o.Contains))).ToList();
            foreach (var set in maximal)
                groups.Add(new ExpertGroupSpec($"L{layer}E{string.Join("+", set)}", set.Select(e => new ExpertKey(layer, e)).ToArray()));
        }
        // Experts that no route in use touches still need a home (another attribute may need them later).
        var covered = groups.SelectMany(g => g.Experts).ToHashSet();
        var rest = AllExperts(config).Where(k => !covered.Contains(k)).ToArray();
        if (rest.Length > 0) groups.Add(new ExpertGroupSpec("spare", rest));
        return new PlacementPlan("route-aware", groups);
    }

    private static IEnumerable<ExpertKey> AllExperts(UniPerceiverConfig config) =>
        from l in config.MoeLayers from e in Enumerable.Range(0, config.Experts) select new ExpertKey(l, e);
}
