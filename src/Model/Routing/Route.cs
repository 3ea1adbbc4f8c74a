namespace UniPerceiverMoe.Model.Routing;

/// <summary>
/// A gate decision: the top-k experts (highest gate first) and their renormalised weights (sum 1).
/// Equality is by value so merged weights can be cached per route and shared between attributes with equal routes.
/// </summary>
public sealed record Route(int[] Experts, float[] Weights)
{
    public int K => Experts.Length;

    public bool Equals(Route? other) =>
        other is not null && Experts.AsSpan().SequenceEqual(other.Experts) && Weights.AsSpan().SequenceEqual(other.Weights);

    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var e in Experts) h.Add(e);
        foreach (var w in Weights) h.Add(w);
        return h.ToHashCode();
    }

    public override string ToString() =>
        "[" + string.Join(", ", Experts) + "] (" + string.Join(", ", Weights.Select(w => w.ToString("F6"))) + ")";
}

/// <summary>A gate's full output for one attribute: softmax over all experts plus the top-k route.</summary>
public sealed record GateDecision(float[] Softmax, Route Route);
