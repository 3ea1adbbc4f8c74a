using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Routing.TokenLevel;
using Xunit.Abstractions;
using static TorchSharp.torch;

using UniPerceiverMoe.TestSupport;

namespace UniPerceiverMoe.Model.Tests.Routing.TokenLevel;

/// <summary>The token-level executor at single MoE sites against the per-token reference.</summary>
public sealed class TokenLevelRoutingSpecs(ITestOutputHelper output)
{
    private const double Tolerance = 1e-5;
    private static readonly MoeSite Qkv = new(0, MoeLinearKind.QkvProj);
    private static readonly MoeSite Dense = new(0, MoeLinearKind.Dense);
    private static readonly MoeSite Linear1 = new(0, MoeLinearKind.Linear1);
    private static readonly MoeSite Linear2 = new(0, MoeLinearKind.Linear2);

    [Theory]
    [InlineData(MoeLinearKind.QkvProj)]
    [InlineData(MoeLinearKind.Linear1)]
    public void Gate_site_should_equal_the_per_token_reference(MoeLinearKind kind)
    {
        using var model = TokenLevelTestModel.Create(seed: 11);
        var site = new MoeSite(0, kind);
        var executor = new TokenLevelMoeExecutor(model);
        using var x = TokenLevelTestModel.Hidden(2, 6, 64);
        using var y = executor.Apply(site, x, Uniform(6));

        using var flat = x.view(12, 64);
        var moe = model.MoeAt(site)!;
        var choices = TokenReference.Gate(flat, moe.Gate.WgWeight, 2);
        using var expected = TokenReference.Apply(moe, flat, choices, TokenReference.KeepAll(choices));
        Assert.Equal([2L, 6, expected.shape[1]], y.shape);
        TensorAssert.Close(output, site.ToString(), expected, y.view(12, -1), Tolerance);
    }

    [Fact]
    public void Dense_and_linear2_should_reuse_their_gate_sites_token_decisions()
    {
        using var model = TokenLevelTestModel.Create(seed: 12);
        var executor = new TokenLevelMoeExecutor(model);
        using var h1 = TokenLevelTestModel.Hidden(1, 9, 64);
        using var ctx = randn(1, 9, 64);
        using var h2 = TokenLevelTestModel.Hidden(1, 9, 64);
        using var act = randn(1, 9, 256);
        using var qkv = executor.Apply(Qkv, h1, Uniform(9));
        using var dense = executor.Apply(Dense, ctx, Uniform(9));
        using var f1 = executor.Apply(Linear1, h2, Uniform(9));
        using var f2 = executor.Apply(Linear2, act, Uniform(9));

        var attention = TokenReference.Gate(h1.view(9, 64), model.MoeAt(Qkv)!.Gate.WgWeight, 2);
        var ffn = TokenReference.Gate(h2.view(9, 64), model.MoeAt(Linear1)!.Gate.WgWeight, 2);
        using var expectedDense = TokenReference.Apply(model.MoeAt(Dense)!, ctx.view(9, 64), attention, TokenReference.KeepAll(attention));
        using var expectedF2 = TokenReference.Apply(model.MoeAt(Linear2)!, act.view(9, 256), ffn, TokenReference.KeepAll(ffn));
        TensorAssert.Close(output, "dense", expectedDense, dense.view(9, -1), Tolerance);
        TensorAssert.Close(output, "linear2", expectedF2, f2.view(9, -1), Tolerance);
        Assert.Equal(executor.StatsAt(Qkv).ExpertLoad, executor.StatsAt(Dense).ExpertLoad);
    }

    [Fact]
    public void Different_tokens_should_go_to_different_experts()
    {
        using var model = TokenLevelTestModel.Create(seed: 13);
        var executor = new TokenLevelMoeExecutor(model);
        TokenDispatchPlan? plan = null;
        executor.Dispatched += (_, p) => plan = p;
        using var x = TokenLevelTestModel.Hidden(2, 8, 64);
        using var y = executor.Apply(Qkv, x, Uniform(8));

        var stats = executor.StatsAt(Qkv);
        output.WriteLine(stats.ToString());
        Assert.True(stats.ExpertsUsed >= 2, $"only {stats.ExpertsUsed} expert(s) used: {stats}");
        Assert.Equal(16, stats.Tokens);
        Assert.Equal(32, stats.Assignments);
        Assert.Equal(32, stats.ExpertLoad.Sum());
        using var flat = x.view(16, 64);
        var topK = TokenGate.Decide(flat, model.MoeAt(Qkv)!.Gate.WgWeight, 2);
        var firstChoices = Enumerable.Range(0, 16).Select(t => topK.Expert(t, 0)).Distinct().Count();
        Assert.True(firstChoices >= 2, $"every token's first choice is the same expert");
        Assert.Equal(stats.ExpertLoad, Enumerable.Range(0, 8).Select(e => (long)plan!.LoadOf(e)));
    }

    [Fact]
    public void Capacity_should_drop_the_hand_counted_assignments_and_they_should_contribute_nothing()
    {
        using var model = TokenLevelTestModel.Create(seed: 14);
        // T = 12, k = 2, E = 8: C = max(1, ceil(0.25·12·2/8)) = 1, so at most 8 of the 24 assignments fit.
        var options = new TokenLevelOptions { Dropless = false, CapacityFactor = 0.25, MinCapacity = 1 };
        var executor = new TokenLevelMoeExecutor(model, options);
        using var x = TokenLevelTestModel.Hidden(2, 6, 64);
        using var y = executor.Apply(Linear1, x, Uniform(6));

        using var flat = x.view(12, 64);
        var moe = model.MoeAt(Linear1)!;
        var choices = TokenReference.Gate(flat, moe.Gate.WgWeight, 2);
        var kept = TokenReference.Keep(choices, 8, capacity: 1, dropless: false);
        int expectedDropped = kept.Sum(row => row.Count(k => !k));
        var stats = executor.StatsAt(Linear1);
        output.WriteLine(stats.ToString());
        Assert.True(expectedDropped >= 16, $"with capacity 1 at least 16 of 24 assignments must drop, counted {expectedDropped}");
        Assert.Equal(expectedDropped, stats.DroppedAssignments);
        Assert.All(stats.ExpertLoad, l => Assert.True(l <= 1));

        using var expected = TokenReference.Apply(moe, flat, choices, kept);
        TensorAssert.Close(output, "linear1 with drops", expected, y.view(12, -1), Tolerance);
        var fullyDropped = Enumerable.Range(0, 12).Where(t => kept[t].All(k => !k)).ToArray();
        Assert.NotEmpty(fullyDropped);
        foreach (var t in fullyDropped) Assert.Equal(0.0, y.view(12, -1)[t].abs().max().item<float>());
    }

    [Fact]
    public void Dropless_should_process_every_assignment_even_over_capacity()
    {
        using var model = TokenLevelTestModel.Create(seed: 14);
        var options = new TokenLevelOptions { Dropless = true, CapacityFactor = 0.25, MinCapacity = 1 };
        var executor = new TokenLevelMoeExecutor(model, options);
        TokenDispatchPlan? plan = null;
        executor.Dispatched += (_, p) => plan = p;
        using var x = TokenLevelTestModel.Hidden(2, 6, 64);
        using var y = executor.Apply(Linear1, x, Uniform(6));

        var stats = executor.StatsAt(Linear1);
        Assert.Equal(1, plan!.Capacity);
        Assert.True(stats.ExpertLoad.Max() > plan.Capacity, $"no expert went over capacity: {stats}");
        Assert.Equal(0, stats.DroppedAssignments);
        Assert.Equal(24, stats.ExpertLoad.Sum());

        using var flat = x.view(12, 64);
        var moe = model.MoeAt(Linear1)!;
        var choices = TokenReference.Gate(flat, moe.Gate.WgWeight, 2);
        using var expected = TokenReference.Apply(moe, flat, choices, TokenReference.KeepAll(choices));
        TensorAssert.Close(output, "linear1 dropless", expected, y.view(12, -1), Tolerance);
    }

    [Fact]
    public void Applier_should_receive_every_experts_request_in_one_call()
    {
        using var model = TokenLevelTestModel.Create(seed: 15);
        var recorder = new RecordingApplier(new LocalTokenExpertApplier(model));
        var executor = new TokenLevelMoeExecutor(model, applier: recorder);
        using var x = TokenLevelTestModel.Hidden(1, 10, 64);
        using var y = executor.Apply(Qkv, x, Uniform(10));

        var batch = Assert.Single(recorder.Calls);
        Assert.Equal(executor.StatsAt(Qkv).ExpertsUsed, batch.Length);
        Assert.Equal(batch.Distinct().Count(), batch.Length);
    }

    [Fact]
    public void Paired_site_without_its_gate_site_should_throw()
    {
        using var model = TokenLevelTestModel.Create(seed: 16);
        var executor = new TokenLevelMoeExecutor(model);
        using var x = TokenLevelTestModel.Hidden(1, 4, 64);
        Assert.Throws<InvalidOperationException>(() => executor.Apply(Dense, x, Uniform(4)));
        Assert.Throws<ArgumentException>(() => executor.Apply(Qkv, x, Uniform(5)));
    }

    private static TokenRouting Uniform(int n) => TokenRouting.Uniform(n, MoeAttribute.VisualInput);

    /// <summary>Records the experts of each ApplyAll call, then delegates.</summary>
    private sealed class RecordingApplier(ITokenExpertApplier inner) : ITokenExpertApplier
    {
        public List<int[]> Calls { get; } = [];

        public Tensor Apply(MoeSite site, int expert, Tensor tokens) => inner.Apply(site, expert, tokens);

        public IReadOnlyList<Tensor> ApplyAll(MoeSite site, IReadOnlyList<TokenExpertRequest> requests)
        {
            Calls.Add(requests.Select(r => r.Expert).ToArray());
            return requests.Select(r => inner.Apply(site, r.Expert, r.Tokens)).ToArray();
        }
    }
}
