using System.Collections.Concurrent;
using UniPerceiverMoe.Model.Modules;

namespace UniPerceiverMoe.Model.Routing;

/// <summary>
/// (layer, gate, attribute) → gate decision. Gates see only the attribute, so every decision is a constant of the
/// checkpoint: the known attributes are computed once at load; others on first use (thread-safe, then cached).
/// Only the attention gate (self_attn.qkv_proj) and the FFN gate (linear1) are consulted: dense and linear2 reuse them.
/// </summary>
public sealed class RouteTable
{
    private readonly UniPerceiverMoeModel model;
    private readonly ConcurrentDictionary<(int Layer, MoeGateKind Gate, MoeAttribute Attribute), GateDecision> decisions = new();

    public RouteTable(UniPerceiverMoeModel model)
    {
        this.model = model;
        foreach (var layer in model.Config.MoeLayers)
            foreach (var gate in Enum.GetValues<MoeGateKind>())
                foreach (var attribute in MoeAttribute.Known)
                    if (GateModule(layer, gate) is not null) Decision(layer, gate, attribute);
    }

    /// <summary>The route of <paramref name="attribute"/> at an MoE site (the decision of the site's gate).</summary>
    public Route RouteOf(MoeSite site, MoeAttribute attribute) => Decision(site.Layer, site.Gate, attribute).Route;

    public GateDecision Decision(int layer, MoeGateKind gate, MoeAttribute attribute) =>
        decisions.GetOrAdd((layer, gate, attribute), key =>
        {
            var module = GateModule(key.Layer, key.Gate)
                ?? throw new ArgumentException($"layer {key.Layer} has no {key.Gate} MoE gate.");
            return module.Gate.Decide(key.Attribute);
        });

    /// <summary>Every computed entry, ordered by layer, gate and attribute bits.</summary>
    public IEnumerable<(int Layer, MoeGateKind Gate, MoeAttribute Attribute, GateDecision Decision)> Entries() =>
        decisions.OrderBy(e => e.Key.Layer).ThenBy(e => e.Key.Gate).ThenBy(e => e.Key.Attribute.Bits)
            .Select(e => (e.Key.Layer, e.Key.Gate, e.Key.Attribute, e.Value));

    /// <summary>The distinct routes in use at a site over the given attributes (what a placement must cover).</summary>
    public IReadOnlyList<Route> RoutesAt(MoeSite site, IEnumerable<MoeAttribute> attributes) =>
        attributes.Select(a => RouteOf(site, a)).Distinct().ToArray();

    /// <summary>Whether the site's layer has the gate that decides it (false for dense linears).</summary>
    public bool HasGate(MoeSite site) => GateModule(site.Layer, site.Gate) is not null;

    private TaskMoE? GateModule(int layer, MoeGateKind gate) =>
        model.MoeAt(new MoeSite(layer, gate == MoeGateKind.Attention ? MoeLinearKind.QkvProj : MoeLinearKind.Linear1));
}
