using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Routing.TokenLevel;

/// <summary>One token's gate choice as the reference computes it.</summary>
internal sealed record RefChoice(int Expert, double Weight);

/// <summary>
/// Token-level MoE computed the slow, obvious way, independently of the production code: the gate in double precision
/// one token at a time, capacity by counting, and y_t = Σ_k g_tk (W_{e_tk} x_t + b_{e_tk}) per token.
/// </summary>
internal static class TokenReference
{
    /// <summary>Per token of x [T, D]: top-k (expert, weight) of softmax(wg·x_t), weights renormalised (sum 1, clamped at float eps).</summary>
    public static RefChoice[][] Gate(Tensor x, Tensor wg, int k)
    {
        int tokens = (int)x.shape[0], d = (int)x.shape[1], experts = (int)wg.shape[0];
        var xs = Doubles(x);
        var ws = Doubles(wg);
        var result = new RefChoice[tokens][];
        for (int t = 0; t < tokens; t++)
        {
            var logits = new double[experts];
            for (int e = 0; e < experts; e++)
                for (int i = 0; i < d; i++) logits[e] += ws[e * d + i] * xs[t * d + i];
            double max = logits.Max();
            var p = logits.Select(l => Math.Exp(l - max)).ToArray();
            double z = p.Sum();
            var top = Enumerable.Range(0, experts).OrderByDescending(e => logits[e]).Take(k).ToArray();
            double sum = Math.Max(top.Sum(e => p[e] / z), 1.1920929e-07);
            result[t] = top.Select(e => new RefChoice(e, p[e] / z / sum)).ToArray();
        }
        return result;
    }

    /// <summary>kept[t][r]: GShard priority (all first choices in token order, then all second choices), at most
    /// <paramref name="capacity"/> per expert unless <paramref name="dropless"/>.</summary>
    public static bool[][] Keep(RefChoice[][] choices, int experts, int capacity, bool dropless)
    {
        var load = new int[experts];
        var kept = choices.Select(c => new bool[c.Length]).ToArray();
        int k = choices.Length == 0 ? 0 : choices[0].Length;
        for (int r = 0; r < k; r++)
            for (int t = 0; t < choices.Length; t++)
            {
                int e = choices[t][r].Expert;
                if (!dropless && load[e] >= capacity) continue;
                load[e]++;
                kept[t][r] = true;
            }
        return kept;
    }

    /// <summary>x: [T, in]. Returns [T, out] float64: Σ over kept choices of g·(W_e x_t + b_e); zeros when none is kept.</summary>
    public static Tensor Apply(TaskMoE moe, Tensor x, RefChoice[][] choices, bool[][] kept)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int outFeatures = (int)moe.Experts[0].weight!.shape[0];
        var rows = new List<Tensor>();
        for (int t = 0; t < choices.Length; t++)
        {
            var xt = x[t].to_type(ScalarType.Float64);
            var y = zeros(outFeatures, ScalarType.Float64);
            for (int r = 0; r < choices[t].Length; r++)
            {
                if (!kept[t][r]) continue;
                var expert = moe.Experts[choices[t][r].Expert];
                var w = expert.weight!.to_type(ScalarType.Float64);
                var b = expert.bias!.to_type(ScalarType.Float64);
                y = y.Plus(TorchScalar.Use(choices[t][r].Weight, g => w.mv(xt).Plus(b).mul(g)));
            }
            rows.Add(y);
        }
        return stack(rows, 0).MoveToOuterDisposeScope();
    }

    public static bool[][] KeepAll(RefChoice[][] choices) => choices.Select(c => c.Select(_ => true).ToArray()).ToArray();

    private static double[] Doubles(Tensor t)
    {
        using var d = t.detach().to_type(ScalarType.Float64).cpu().contiguous();
        return d.data<double>().ToArray();
    }
}

/// <summary>A dropless token-level executor built on <see cref="TokenReference"/> (dense/linear2 reuse their gate's choices).</summary>
internal sealed class ReferenceTokenExecutor(UniPerceiverMoeModel model, int k) : IMoeLinearExecutor
{
    private readonly Dictionary<(int, MoeGateKind), RefChoice[][]> decided = [];

    public Tensor Apply(MoeSite site, Tensor x, TokenRouting routing)
    {
        var moe = model.MoeAt(site)!;
        using var flat = x.reshape(-1, x.shape[2]);
        if (site.Kind is MoeLinearKind.QkvProj or MoeLinearKind.Linear1) decided[(site.Layer, site.Gate)] = TokenReference.Gate(flat, moe.Gate.WgWeight, k);
        var choices = decided[(site.Layer, site.Gate)];
        using var y = TokenReference.Apply(moe, flat, choices, TokenReference.KeepAll(choices));
        return y.to_type(x.dtype).view(x.shape[0], x.shape[1], -1);
    }
}
