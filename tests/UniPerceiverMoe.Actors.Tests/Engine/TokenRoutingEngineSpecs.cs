using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Model;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Routing.TokenLevel;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Tests.Engine;

/// <summary>
/// upmoe.routing.strategy = token: the gate sees hidden states and tokens are dispatched to the expert groups at run
/// time. The engine must equal a single-process computation of the same routing, and count every drop.
/// </summary>
public sealed class TokenRoutingEngineSpecs(ITestOutputHelper output)
{
    /// <summary>A small random model whose gates have large weights, so tokens really spread over experts.</summary>
    private static UniPerceiverMoeModel SpreadRoutingModel()
    {
        var model = ModelLoader.Random(UniPerceiverConfig.Tiny with { Layers = 2 }, seed: 7);
        using var _ = no_grad();
        var state = model.state_dict();
        foreach (var key in state.Keys.Where(k => k.EndsWith(".gate.wg.weight", StringComparison.Ordinal))) state[key].normal_(0, 1);
        foreach (var key in state.Keys.Where(k => k.EndsWith("gamma_1", StringComparison.Ordinal) || k.EndsWith("gamma_2", StringComparison.Ordinal))) TorchScalar.Use(1L, one => state[key].fill_(one));
        return model;
    }

    private static UniPerceiverEngine Start(UniPerceiverMoeModel model, PlacementPlan plan, bool dropless) =>
        UniPerceiverEngine.Start(UpmoeConfig.Parse($"upmoe.routing.strategy = token\nupmoe.routing.token.dropless = {(dropless ? "on" : "off")}\n" +
            "upmoe.routing.token.capacity-factor = 0.5\nupmoe.routing.token.min-capacity = 1"),
            new EngineStartOptions { Model = model, Plan = plan });

    [Theory]
    [InlineData("per-expert", true)]
    [InlineData("n-per-layer", false)]
    public async Task Token_routing_through_expert_groups_should_equal_the_single_process_computation(string placement, bool dropless)
    {
        using var model = SpreadRoutingModel();
        var plan = placement == "per-expert" ? PlacementPlanner.PerExpert(model.Config) : PlacementPlanner.NPerLayer(model.Config, 3);
        await using var engine = Start(model, plan, dropless);
        manual_seed(3);
        using var pixels = randn([2, 1, 3, 224, 224]);

        using var viaActors = await engine.RunAsync(r => UniPerceiverTasks.VisualFeatures(r, pixels, MoeAttribute.VisualInput), "token routing", default);
        var options = new TokenLevelOptions { CapacityFactor = 0.5, MinCapacity = 1, Dropless = dropless };
        var local = new TokenLevelMoeExecutor(model, options);
        using var reference = UniPerceiverTasks.VisualFeatures(new UniPerceiverRunner(model, local), pixels, MoeAttribute.VisualInput);

        TensorAssert.Close(output, $"token-routed features via {placement} groups", reference, viaActors, 1e-5);
        var gateSites = local.Stats.Where(s => s.Key.Kind is MoeLinearKind.QkvProj or MoeLinearKind.Linear1).Select(s => s.Value).ToList();
        long dropped = gateSites.Sum(s => s.DroppedAssignments), assignments = gateSites.Sum(s => s.Assignments);
        output.WriteLine($"assignments {engine.Counters.TokenAssignments.Value}, dropped {engine.Counters.TokenDroppedAssignments.Value}; " +
                         $"experts used per gate site: {string.Join(", ", gateSites.Select(s => s.ExpertsUsed))}");
        Assert.Equal(assignments, engine.Counters.TokenAssignments.Value);
        Assert.Equal(dropped, engine.Counters.TokenDroppedAssignments.Value);
        Assert.All(gateSites, s => Assert.True(s.ExpertsUsed >= 4, "tokens should spread over several experts"));
        if (dropless) Assert.Equal(0, dropped);
        else Assert.True(dropped > 0, "a capacity factor of 0.5 must drop (and count) assignments");
    }
}
