using System.Collections.Concurrent;
using UniPerceiverMoe.Model.Modules;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Routing.TokenLevel;

/// <summary>
/// Token-level routing: the gate of each MoE layer looks at every token's normed hidden state (the input of qkv_proj
/// and of linear1) and sends the token to its own top-k experts; each expert runs once over the tokens gathered for it
/// and the results are scatter-added back weighted by the gate. The attribute routing passed to <see cref="Apply"/> is
/// only checked for length.
/// <para>
/// Invariant: one instance serves one forward pass at a time and is called in layer order, so that within a layer
/// qkv_proj comes before dense and linear1 before linear2, each pair over the same B·N tokens. The decision taken at
/// qkv_proj (linear1) is held until dense (linear2) consumes it: dense and linear2 reuse their gate's decision, drops
/// included, as the attribute path does (FFN_SHARE_GATE_DECISION).
/// </para>
/// </summary>
public sealed class TokenLevelMoeExecutor : IMoeLinearExecutor
{
    private readonly UniPerceiverMoeModel model;
    private readonly Dictionary<(int Layer, MoeGateKind Gate), TokenDispatchPlan> pending = [];
    private readonly ConcurrentDictionary<MoeSite, TokenRoutingStats> stats = new();

    public TokenLevelMoeExecutor(UniPerceiverMoeModel model, TokenLevelOptions? options = null, ITokenExpertApplier? applier = null)
    {
        this.model = model;
        Options = (options ?? TokenLevelOptions.Default).Validate(model.Config.Experts);
        Applier = applier ?? new LocalTokenExpertApplier(model);
    }

    public TokenLevelOptions Options { get; }

    public ITokenExpertApplier Applier { get; }

    /// <summary>Raised after every dispatch decision is applied at a site (gate sites and their paired sites alike).</summary>
    public event Action<MoeSite, TokenDispatchPlan>? Dispatched;

    /// <summary>Counters per site since construction or <see cref="ResetStats"/> (a snapshot).</summary>
    public IReadOnlyDictionary<MoeSite, TokenRoutingStats> Stats => new Dictionary<MoeSite, TokenRoutingStats>(stats);

    /// <summary>The counters of one site (empty when it has not run).</summary>
    public TokenRoutingStats StatsAt(MoeSite site) => stats.TryGetValue(site, out var s) ? s : TokenRoutingStats.Empty(model.Config.Experts);

    public void ResetStats() => stats.Clear();

    /// <summary>x: [B, N, in] (not modified, still the caller's). Returns a new [B, N, out] owned by the caller.</summary>
    public Tensor Apply(MoeSite site, Tensor x, TokenRouting routing)
    {
        if (routing.Length != x.size(1))
            throw new ArgumentException($"routing covers {routing.Length} tokens but the input has {x.size(1)}.");
        var moe = model.MoeAt(site) ?? throw new ArgumentException($"{site} is not an MoE linear.");
        var (inFeatures, outFeatures) = Features(site);
        if (x.dim() != 3 || x.size(2) != inFeatures)
            throw new ArgumentException($"{site} expects [B, N, {inFeatures}], got [{string.Join(", ", x.shape)}].");
        long b = x.size(0), n = x.size(1);
        int tokens = checked((int)(b * n));

        using var noGrad = no_grad();
        using var flat = x.reshape(tokens, inFeatures);                                   // [T, in], rows = b·N + n
        var plan = PlanFor(site, moe, flat);
        stats.AddOrUpdate(site, _ => TokenRoutingStats.Empty(plan.Experts).Add(plan), (_, s) => s.Add(plan));
        Dispatched?.Invoke(site, plan);

        using var output = Combine(site, plan, flat, outFeatures, x);                     // [T, out]
        return output.view(b, n, outFeatures);
    }

    private TokenDispatchPlan PlanFor(MoeSite site, TaskMoE moe, Tensor flat)
    {
        var key = (site.Layer, site.Gate);
        if (site.Kind is MoeLinearKind.QkvProj or MoeLinearKind.Linear1)
        {
            var topK = TokenGate.Decide(flat, moe.Gate.WgWeight, Options.TopK);
            var plan = TokenDispatchPlan.Build(topK, model.Config.Experts, Options);
            pending[key] = plan;
            return plan;
        }
        if (!pending.Remove(key, out var decided))
            throw new InvalidOperationException(
                $"{site} reuses its gate's token decision, but the gate site of layer {site.Layer} has not run in this pass.");
        if (decided.Tokens != flat.size(0))
            throw new InvalidOperationException($"{site} has {flat.size(0)} tokens but its gate decided for {decided.Tokens}.");
        return decided;
    }

    /// <summary>Gathers each expert's tokens, sends every request, then scatter-adds weight·result into a new [T, out].</summary>
    private Tensor Combine(MoeSite site, TokenDispatchPlan plan, Tensor flat, int outFeatures, Tensor like)
    {
        var used = Enumerable.Range(0, plan.Experts).Where(e => plan.LoadOf(e) > 0).ToArray();
        var indices = new Tensor[used.Length];
        var requests = new TokenExpertRequest[used.Length];
        IReadOnlyList<Tensor>? results = null;
        try
        {
            for (int i = 0; i < used.Length; i++)
            {
                var rows = plan.TokensOf(used[i]).Select(t => (long)t).ToArray();
                indices[i] = tensor(rows, ScalarType.Int64, device: flat.device);           // [n_e]
                requests[i] = new TokenExpertRequest(used[i], flat.index_select(0, indices[i])); // [n_e, in]
            }
            results = Applier.ApplyAll(site, requests);
            if (results.Count != used.Length)
                throw new InvalidOperationException($"{site}: the applier returned {results.Count} results for {used.Length} requests.");

            var output = zeros(plan.Tokens, outFeatures, like.dtype, like.device);
            try
            {
                for (int i = 0; i < used.Length; i++) AddWeighted(site, output, indices[i], results[i], plan.WeightsOf(used[i]), used[i]);
                return output;
            }
            catch
            {
                output.Dispose();
                throw;
            }
        }
        finally
        {
            foreach (var t in indices) t?.Dispose();
            foreach (var q in requests) q.Tokens?.Dispose();
            if (results is not null) foreach (var r in results) r.Dispose();
        }
    }

    /// <summary>output[rows] += gate ⊙ result; result [n, out] and rows [n] stay the caller's.</summary>
    private static void AddWeighted(MoeSite site, Tensor output, Tensor rows, Tensor result, IReadOnlyList<float> gates, int expert)
    {
        if (result.dim() != 2 || result.size(0) != rows.size(0) || result.size(1) != output.size(1))
            throw new InvalidOperationException(
                $"{site} expert {expert}: expected [{rows.size(0)}, {output.size(1)}], got [{string.Join(", ", result.shape)}].");
        // Each intermediate held by name: a chained temporary could be finalized while libtorch runs on it
        // outside a dispose scope (docs/architecture.md).
        using var gateValues = tensor(gates.ToArray(), device: output.device);
        using var typedGates = gateValues.to_type(output.dtype);
        using var gate = typedGates.unsqueeze(1);                                                          // [n, 1]
        using var typed = result.to_type(output.dtype);
        using var weighted = typed.mul(gate);                                                             // [n, out]
        TorchScalar.Use(1L, one => output.index_add_(0, rows, weighted, one));
    }

    /// <summary>(in, out) of a site's linear from the config: the applier may hold the expert weights elsewhere.</summary>
    private (int In, int Out) Features(MoeSite site)
    {
        var c = model.Config;
        return site.Kind switch
        {
            MoeLinearKind.QkvProj => (c.Hidden, 3 * c.Hidden),
            MoeLinearKind.Dense => (c.Hidden, c.Hidden),
            MoeLinearKind.Linear1 => (c.Hidden, c.Ffn),
            _ => (c.Ffn, c.Hidden),
        };
    }
}
