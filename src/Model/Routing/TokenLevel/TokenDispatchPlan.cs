namespace UniPerceiverMoe.Model.Routing.TokenLevel;

/// <summary>One (token, rank) → expert assignment; rank 0 is the token's highest-gate choice.</summary>
public readonly record struct TokenAssignment(int Token, int Rank, int Expert);

/// <summary>
/// Which tokens each expert processes for one call, with the gate weight each result is scaled by. Priority is
/// GShard's: every token's first choice is placed before any second choice, and within a rank tokens are placed in
/// position order (token 0 first). An expert that already holds <see cref="Capacity"/> assignments drops the next ones
/// unless the plan is dropless. A dropped assignment contributes 0 to its token's output; the token's other experts
/// still apply, and a token with every assignment dropped outputs 0 (the residual carries it through the layer).
/// Pure CPU data: no tensors, nothing to dispose.
/// </summary>
public sealed class TokenDispatchPlan
{
    private readonly List<int>[] tokensOf;
    private readonly List<float>[] weightsOf;
    private readonly List<TokenAssignment> dropped;

    private TokenDispatchPlan(int tokens, int k, int experts, int capacity, bool dropless)
    {
        Tokens = tokens;
        K = k;
        Experts = experts;
        Capacity = capacity;
        Dropless = dropless;
        tokensOf = Enumerable.Range(0, experts).Select(_ => new List<int>()).ToArray();
        weightsOf = Enumerable.Range(0, experts).Select(_ => new List<float>()).ToArray();
        dropped = [];
    }

    /// <summary>Tokens T of the call (B·N).</summary>
    public int Tokens { get; }

    public int K { get; }

    public int Experts { get; }

    /// <summary>Requested assignments: T·k.</summary>
    public int Assignments => Tokens * K;

    /// <summary>max(MinCapacity, ceil(CapacityFactor·T·k/E)); enforced only when <see cref="Dropless"/> is false.</summary>
    public int Capacity { get; }

    public bool Dropless { get; }

    /// <summary>Assignments not processed because their expert was full (always empty when dropless).</summary>
    public IReadOnlyList<TokenAssignment> Dropped => dropped;

    public int DroppedAssignments => dropped.Count;

    /// <summary>The token indices (rows of [B·N]) expert <paramref name="expert"/> processes, in placement order.</summary>
    public IReadOnlyList<int> TokensOf(int expert) => tokensOf[expert];

    /// <summary>The gate weights matching <see cref="TokensOf"/> one for one.</summary>
    public IReadOnlyList<float> WeightsOf(int expert) => weightsOf[expert];

    /// <summary>Assignments expert <paramref name="expert"/> processes (after drops).</summary>
    public int LoadOf(int expert) => tokensOf[expert].Count;

    public static TokenDispatchPlan Build(TokenTopK topK, int experts, TokenLevelOptions options)
    {
        if (topK.K != options.TopK) throw new ArgumentException($"gate chose {topK.K} experts per token but the options say top_k {options.TopK}.");
        options.Validate(experts);
        var plan = new TokenDispatchPlan(topK.Tokens, topK.K, experts, options.CapacityFor(topK.Tokens, experts), options.Dropless);
        for (int rank = 0; rank < topK.K; rank++)
            for (int t = 0; t < topK.Tokens; t++)
            {
                int e = topK.Expert(t, rank);
                if (e < 0 || e >= experts) throw new ArgumentException($"token {t} chose expert {e}, outside 0..{experts - 1}.");
                if (!plan.Dropless && plan.tokensOf[e].Count >= plan.Capacity)
                {
                    plan.dropped.Add(new TokenAssignment(t, rank, e));
                    continue;
                }
                plan.tokensOf[e].Add(t);
                plan.weightsOf[e].Add(topK.Weight(t, rank));
            }
        return plan;
    }
}
