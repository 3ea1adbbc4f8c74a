using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Routing.TokenLevel;

/// <summary>
/// The token gate: logits = x·wgᵀ per token, softmax over experts, top-k, weights renormalised to sum 1 with the
/// denominator clamped at float32 eps — the attribute gate's rule (deepspeed top2gating), applied per token.
/// Computed in fp32 whatever the input dtype.
/// </summary>
public static class TokenGate
{
    private const float Eps = 1.1920929e-07f;

    /// <summary>x: [T, D] (the linear's input, not modified); wg: [E, D] (the site's gate weight). Both stay the caller's.</summary>
    public static TokenTopK Decide(Tensor x, Tensor wg, int k)
    {
        if (x.dim() != 2 || wg.dim() != 2 || x.size(1) != wg.size(1))
            throw new ArgumentException($"token gate needs x [T, D] and wg [E, D], got [{string.Join(", ", x.shape)}] and [{string.Join(", ", wg.shape)}].");
        if (k < 1 || k > wg.size(0)) throw new ArgumentException($"top_k {k} must be in 1..{wg.size(0)}.");
        int tokens = (int)x.size(0);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var logits = nn.functional.linear(x.to_type(ScalarType.Float32), wg.to_type(ScalarType.Float32)); // [T, E]
        var softmax = logits.softmax(-1);
        var (_, idx) = logits.topk(k, dim: -1);                               // [T, k], highest first
        var chosen = softmax.gather(1, idx);                                   // [T, k]
        var denom = TorchScalar.Use(Eps, eps => chosen.sum(1, keepdim: true).clamp_min(eps));               // [T, 1]
        var weights = chosen.div(denom).cpu().data<float>().ToArray();
        var experts = idx.to_type(ScalarType.Int32).cpu().data<int>().ToArray();
        return new TokenTopK(tokens, k, experts, weights);
    }
}
