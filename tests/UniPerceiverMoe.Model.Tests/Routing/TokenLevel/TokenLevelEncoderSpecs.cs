using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Routing.TokenLevel;
using Xunit.Abstractions;
using static TorchSharp.torch;

using UniPerceiverMoe.TestSupport;

namespace UniPerceiverMoe.Model.Tests.Routing.TokenLevel;

/// <summary>Whole encoder passes with token-level routing.</summary>
public sealed class TokenLevelEncoderSpecs(ITestOutputHelper output)
{
    [Fact]
    public void Encoder_pass_should_equal_the_reference_token_level_forward()
    {
        // Tiny with 4 layers: MoE layers 0 and 2, each with four MoE linears.
        using var model = TokenLevelTestModel.Create(seed: 21, layers: 4);
        // LayerScale γ = 1 instead of 1e-3, so a routing error shows in the output at full size.
        using (no_grad())
            foreach (var (name, p) in model.named_parameters())
                if (name.EndsWith("gamma_1") || name.EndsWith("gamma_2")) TorchScalar.Use(1L, one => p.fill_(one));
        var executor = new TokenLevelMoeExecutor(model);
        using var ids = randint(0, model.Config.VocabSize - 1, [2, 6], ScalarType.Int64);
        using var x = new UniPerceiverRunner(model, executor).EmbedText(ids);            // [2, 7, 64]
        var routing = TokenRouting.Uniform((int)x.shape[1], MoeAttribute.VisualInput);

        using var actual = new UniPerceiverRunner(model, executor).Encode(x, routing);
        using var expected = new UniPerceiverRunner(model, new ReferenceTokenExecutor(model, 2)).Encode(x, routing);
        using var attribute = new UniPerceiverRunner(model, new LocalMoeExecutor(model, new RouteTable(model))).Encode(x, routing);

        TensorAssert.Close(output, "encoder final", expected.Final, actual.Final, 1e-5);
        foreach (var (site, stats) in executor.Stats.OrderBy(s => s.Key.Layer).ThenBy(s => s.Key.Kind))
        {
            output.WriteLine($"{site}: {stats}");
            Assert.Equal(14, stats.Tokens);
            Assert.Equal(0, stats.DroppedAssignments);
            Assert.True(stats.ExpertsUsed >= 2, $"{site}: {stats}");
        }
        Assert.Equal(8, executor.Stats.Count);
        using var diff = (attribute.Final - actual.Final).abs().max();
        Assert.True(diff.item<float>() > 1e-3, "token-level routing gave the attribute-level output: the gate did not act per token");
    }
}
