namespace UniPerceiverMoe.Model.Routing.TokenLevel;

/// <summary>
/// Per-token gate output for T tokens: row-major [T, K] expert indices (highest gate first, distinct per token) and
/// their renormalised weights (each row sums to 1). Token t is row t of the flattened batch [B·N].
/// </summary>
public sealed class TokenTopK
{
    private readonly int[] experts;
    private readonly float[] weights;

    public TokenTopK(int tokens, int k, int[] experts, float[] weights)
    {
        if (tokens < 0 || k < 1) throw new ArgumentException($"need tokens ≥ 0 and k ≥ 1 (got {tokens}, {k}).");
        if (experts.Length != tokens * k || weights.Length != tokens * k)
            throw new ArgumentException($"expected {tokens}×{k} experts and weights, got {experts.Length} and {weights.Length}.");
        Tokens = tokens;
        K = k;
        this.experts = experts;
        this.weights = weights;
    }

    public int Tokens { get; }

    public int K { get; }

    /// <summary>The expert of token <paramref name="token"/>'s <paramref name="rank"/>-th choice (0 = highest gate).</summary>
    public int Expert(int token, int rank) => experts[token * K + rank];

    public float Weight(int token, int rank) => weights[token * K + rank];
}
