using UniPerceiverMoe.Model.Routing.TokenLevel;

namespace UniPerceiverMoe.Model.Tests.Routing.TokenLevel;

/// <summary>Dispatch plans built from hand-written gate outputs, checked against hand-counted placements.</summary>
public sealed class TokenDispatchPlanSpecs
{
    [Fact]
    public void Capacity_should_place_first_choices_before_second_choices_in_token_order()
    {
        // t0 → (e1, e0), t1 → (e0, e1); T = 2, k = 2, E = 2, C = max(1, ceil(0.5·2·2/2)) = 1.
        // First choices: t0→e1, t1→e0 fit; second choices: t0→e0 and t1→e1 find their experts full.
        var topK = new TokenTopK(2, 2, [1, 0, 0, 1], [0.7f, 0.3f, 0.6f, 0.4f]);
        var plan = TokenDispatchPlan.Build(topK, 2, new TokenLevelOptions { Dropless = false, CapacityFactor = 0.5, MinCapacity = 1 });

        Assert.Equal(1, plan.Capacity);
        Assert.Equal([new TokenAssignment(0, 1, 0), new TokenAssignment(1, 1, 1)], plan.Dropped);
        Assert.Equal([1], plan.TokensOf(0));
        Assert.Equal([0], plan.TokensOf(1));
        Assert.Equal([0.6f], plan.WeightsOf(0));
        Assert.Equal([0.7f], plan.WeightsOf(1));
    }

    [Fact]
    public void Capacity_should_drop_exactly_the_hand_counted_assignments()
    {
        // T = 4, k = 2, E = 3: C = max(1, ceil(0.5·4·2/3)) = 2.
        // rank 0: t0→e0, t1→e0, t2→e1, t3→e0 dropped (e0 full); rank 1: t0→e1, t1→e2, t2→e0 dropped, t3→e1 dropped.
        var topK = new TokenTopK(4, 2, [0, 1, 0, 2, 1, 0, 0, 1], [0.6f, 0.4f, 0.7f, 0.3f, 0.55f, 0.45f, 0.8f, 0.2f]);
        var plan = TokenDispatchPlan.Build(topK, 3, new TokenLevelOptions { Dropless = false, CapacityFactor = 0.5, MinCapacity = 1 });

        Assert.Equal(2, plan.Capacity);
        Assert.Equal(3, plan.DroppedAssignments);
        Assert.Equal([new TokenAssignment(3, 0, 0), new TokenAssignment(2, 1, 0), new TokenAssignment(3, 1, 1)], plan.Dropped);
        Assert.Equal([0, 1], plan.TokensOf(0));
        Assert.Equal([2, 0], plan.TokensOf(1));
        Assert.Equal([1], plan.TokensOf(2));
        Assert.Equal([0.55f, 0.4f], plan.WeightsOf(1));

        var stats = TokenRoutingStats.Empty(3).Add(plan);
        Assert.Equal(new long[] { 2, 2, 1 }, stats.ExpertLoad);
        Assert.Equal(8, stats.Assignments);
        Assert.Equal(3, stats.DroppedAssignments);
    }

    [Fact]
    public void Dropless_plan_should_keep_every_assignment_past_capacity()
    {
        var topK = new TokenTopK(4, 2, [0, 1, 0, 2, 1, 0, 0, 1], [0.6f, 0.4f, 0.7f, 0.3f, 0.55f, 0.45f, 0.8f, 0.2f]);
        var plan = TokenDispatchPlan.Build(topK, 3, new TokenLevelOptions { Dropless = true, CapacityFactor = 0.5, MinCapacity = 1 });

        Assert.Equal(2, plan.Capacity);
        Assert.Empty(plan.Dropped);
        Assert.Equal([0, 1, 3, 2], plan.TokensOf(0));
        Assert.Equal([2, 0, 3], plan.TokensOf(1));
        Assert.Equal([1], plan.TokensOf(2));
    }

    [Theory]
    [InlineData(10, 4)]    // ceil(1.25·10·2/8) = 4
    [InlineData(100, 32)]  // ceil(31.25) = 32
    [InlineData(3, 4)]     // ceil(0.9375) = 1, raised to MinCapacity 4
    public void Default_capacity_should_follow_the_formula(int tokens, int capacity) =>
        Assert.Equal(capacity, TokenLevelOptions.Default.CapacityFor(tokens, 8));

    [Fact]
    public void Options_should_reject_top_k_above_the_expert_count() =>
        Assert.Throws<ArgumentException>(() => new TokenLevelOptions { TopK = 9 }.Validate(8));
}
