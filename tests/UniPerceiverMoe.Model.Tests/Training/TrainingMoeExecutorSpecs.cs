using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Demo.Training;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Training;

public sealed class TrainingMoeExecutorSpecs
{
    private static readonly UniPerceiverConfig Config = DemoTrainingOptions.DemoConfig with { Layers = 2, MoeLayerIndices = [0] };

    [Fact]
    public void Noise_free_merged_weights_should_equal_the_inference_merge_of_the_route_table()
    {
        using var model = DemoModelInit.Create(Config, seed: 5, gammaInit: 0.1f);
        var routes = new RouteTable(model);
        using var executor = new TrainingMoeExecutor(model);
        foreach (var site in model.MoeSites())
            foreach (var attribute in new[] { MoeAttribute.CaptionVisual, MoeAttribute.CaptionText, MoeAttribute.VocabWord })
            {
                var (w, b) = executor.Merged(site, attribute);
                var (rw, rb) = model.MoeAt(site)!.Merge(routes.RouteOf(site, attribute));
                using (rw)
                using (rb)
                {
                    Assert.True(w.allclose(rw, rtol: 1e-5, atol: 1e-6), $"{site} {attribute} weight");
                    Assert.True(b.allclose(rb, rtol: 1e-5, atol: 1e-6), $"{site} {attribute} bias");
                }
                Assert.Equal(routes.RouteOf(site, attribute).Experts,
                    executor.Choices[(site.Layer, site.Gate, attribute)]);
            }
    }

    [Fact]
    public void Gradients_should_reach_the_gate_and_the_chosen_experts_only()
    {
        using var model = DemoModelInit.Create(Config, seed: 6, gammaInit: 0.1f);
        using var scope = NewDisposeScope();
        using var executor = new TrainingMoeExecutor(model);
        var site = new MoeSite(0, MoeLinearKind.Linear1);
        var x = randn(2, 5, Config.Hidden);
        var y = executor.Apply(site, x, TokenRouting.Uniform(5, MoeAttribute.VisualInput));
        TorchScalar.Use(2L, two => y.pow(two)).sum().backward();
        var moe = model.MoeAt(site)!;
        var chosen = executor.Choices[(0, MoeGateKind.Ffn, MoeAttribute.VisualInput)];
        Assert.Equal(Config.TopK, chosen.Length);
        for (int e = 0; e < Config.Experts; e++)
        {
            var grad = moe.Experts[e].weight!.grad;
            if (chosen.Contains(e)) Assert.True(grad is not null && grad.abs().sum().item<float>() > 0, $"expert {e} should get a gradient");
            else Assert.True(grad is null || grad.abs().sum().item<float>() == 0, $"expert {e} was not chosen");
        }
        var gateGrads = moe.Gate.named_parameters().Where(p => p.name.StartsWith("wg") || p.name.StartsWith("tag_transform.0")).ToArray();
        Assert.NotEmpty(gateGrads);
        Assert.All(gateGrads, p => Assert.True(p.parameter.grad is not null && p.parameter.grad.abs().sum().item<float>() > 0, $"gate {p.name}"));
    }
}
