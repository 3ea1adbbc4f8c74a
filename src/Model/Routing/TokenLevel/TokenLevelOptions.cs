namespace UniPerceiverMoe.Model.Routing.TokenLevel;

/// <summary>
/// Token-level routing (the paper's gate-on-the-hidden-state baseline): each token picks its own top-k experts.
/// Capacity per expert and call is C = max(<see cref="MinCapacity"/>, ceil(<see cref="CapacityFactor"/> · T · k / E))
/// for T tokens in the batch; assignments past C are dropped (and counted) only when <see cref="Dropless"/> is false.
/// </summary>
public sealed record TokenLevelOptions
{
    /// <summary>Experts per token (k), 1..E.</summary>
    public int TopK { get; init; } = 2;

    /// <summary>Multiplier of the even share T·k/E that one expert may take per call; &gt; 0.</summary>
    public double CapacityFactor { get; init; } = 1.25;

    /// <summary>True: capacity is ignored and every assignment is processed (no token is ever dropped).</summary>
    public bool Dropless { get; init; } = true;

    /// <summary>Lower bound of the capacity (tokens per expert and call); ≥ 1.</summary>
    public int MinCapacity { get; init; } = 4;

    public static TokenLevelOptions Default { get; } = new();

    /// <summary>Checks the options against an expert count; throws naming the offending field.</summary>
    public TokenLevelOptions Validate(int experts)
    {
        if (TopK < 1 || TopK > experts) throw new ArgumentException($"token-level top_k {TopK} must be in 1..experts ({experts}).");
        if (!(CapacityFactor > 0) || double.IsInfinity(CapacityFactor))
            throw new ArgumentException($"token-level capacity factor {CapacityFactor} must be a positive finite number.");
        if (MinCapacity < 1) throw new ArgumentException($"token-level min capacity {MinCapacity} must be at least 1.");
        return this;
    }

    /// <summary>C = max(MinCapacity, ceil(CapacityFactor · tokens · k / experts)).</summary>
    public int CapacityFor(int tokens, int experts) =>
        Math.Max(MinCapacity, (int)Math.Ceiling(CapacityFactor * tokens * TopK / experts));
}
