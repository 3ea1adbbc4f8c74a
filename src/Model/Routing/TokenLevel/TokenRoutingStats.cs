namespace UniPerceiverMoe.Model.Routing.TokenLevel;

/// <summary>
/// Running counters of token-level routing at one site: calls, tokens (B·N summed over calls), requested assignments
/// (tokens·k), dropped assignments and, per expert, the assignments it processed. Immutable; <see cref="Add"/> returns
/// the sum with one more call.
/// </summary>
public sealed record TokenRoutingStats(long Calls, long Tokens, long Assignments, long DroppedAssignments, IReadOnlyList<long> ExpertLoad)
{
    public static TokenRoutingStats Empty(int experts) => new(0, 0, 0, 0, new long[experts]);

    /// <summary>Experts that processed at least one assignment.</summary>
    public int ExpertsUsed => ExpertLoad.Count(l => l > 0);

    public TokenRoutingStats Add(TokenDispatchPlan plan)
    {
        if (plan.Experts != ExpertLoad.Count) throw new ArgumentException($"plan has {plan.Experts} experts, stats {ExpertLoad.Count}.");
        var load = new long[ExpertLoad.Count];
        for (int e = 0; e < load.Length; e++) load[e] = ExpertLoad[e] + plan.LoadOf(e);
        return new TokenRoutingStats(Calls + 1, Tokens + plan.Tokens, Assignments + plan.Assignments,
            DroppedAssignments + plan.DroppedAssignments, load);
    }

    public override string ToString() =>
        $"calls {Calls}, tokens {Tokens}, assignments {Assignments}, dropped {DroppedAssignments}, load [{string.Join(", ", ExpertLoad)}]";
}
