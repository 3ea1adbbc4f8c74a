using UniPerceiverMoe.Model.Checkpoints;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Model.Tests.Golden;

/// <summary>Strict loading of the fixture checkpoint into a model config that does not fit it.</summary>
[Trait("Category", "Golden")]
public sealed class ModelLoaderSpecs(ITestOutputHelper output)
{
    private static UniPerceiverConfig FixtureConfig => UniPerceiverConfig.FromJsonFile(GoldenFixture.File("config.json"));

    [Fact]
    public void A_checkpoint_with_fewer_layers_than_the_config_should_fail_naming_the_missing_keys()
    {
        var config = FixtureConfig with { Layers = FixtureConfig.Layers + 1 };
        var error = Assert.Throws<CheckpointException>(() => ModelLoader.Load(GoldenFixture.File("model.pth"), config));
        output.WriteLine(error.Message);
        Assert.Contains("model.pth", error.Message);
        Assert.Contains($"fused_encoder.layers.{config.Layers - 1}.norm1.weight", error.Message);
    }

    [Fact]
    public void A_config_of_another_width_should_fail_naming_the_wrong_shapes()
    {
        var config = FixtureConfig with { Ffn = FixtureConfig.Ffn * 2 };
        var error = Assert.Throws<CheckpointException>(() => ModelLoader.Load(GoldenFixture.File("model.pth"), config));
        output.WriteLine(error.Message);
        Assert.Contains("wrong shape", error.Message);
        var f = FixtureConfig;
        Assert.Contains($"fused_encoder.layers.{f.MoeLayers[0]}.linear1.experts.deepspeed_experts.0.weight " +
                        $"(checkpoint [{f.Ffn}, {f.Hidden}], model [{config.Ffn}, {f.Hidden}])", error.Message);
    }

    [Fact]
    public void The_model_config_should_be_found_beside_the_checkpoint_when_auto()
    {
        var resolved = ModelConfigResolver.Resolve("auto", GoldenFixture.File("model.pth"));
        Assert.Equal(FixtureConfig.ToJson(), resolved.ToJson());
    }
}
