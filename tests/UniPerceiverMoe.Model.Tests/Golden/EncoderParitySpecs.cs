using UniPerceiverMoe.Model.Routing;
using Xunit.Abstractions;
using static TorchSharp.torch;

using UniPerceiverMoe.TestSupport;

namespace UniPerceiverMoe.Model.Tests.Golden;

/// <summary>Embeddings, per-layer hidden states and encoder outputs against the original implementation.</summary>
[Trait("Category", "Golden")]
public sealed class EncoderParitySpecs(ITestOutputHelper output)
{
    [Fact]
    public void Spe_prefix_should_equal_the_reference_embedding()
    {
        using var spe = GoldenModel.Runner.SpePrefix();
        TensorAssert.Close(output, "embed.spe_prefix", GoldenFixture.Output("embed.spe_prefix"), spe, Tolerances.Hidden);
    }

    [Fact]
    public void Image_classification_pass_should_match_every_layer_input()
    {
        var runner = GoldenModel.Runner;
        using var pixels = GoldenFixture.Input("image.in1k_224").unsqueeze(0).unsqueeze(0);      // [1, 1, 3, S, S]
        using var x = runner.EmbedVisual(pixels);
        using var encoded = runner.Encode(x, TokenRouting.Uniform((int)x.shape[1], MoeAttribute.VisualInput), keepLayerInputs: true);
        using var layers = stack(encoded.LayerInputs!, 0).squeeze(1);                            // [L+1, N, D]
        TensorAssert.Close(output, "hidden.image_cls", GoldenFixture.Output("hidden.image_cls"), layers, Tolerances.Hidden);
    }

    [Fact]
    public void Image_caption_history_should_match_every_layer_input()
    {
        var runner = GoldenModel.Runner;
        using var pixels = GoldenFixture.Input("image.clip_224").unsqueeze(0).unsqueeze(0);
        using var x = runner.EmbedVisual(pixels);
        using var encoded = runner.Encode(x, TokenRouting.Uniform((int)x.shape[1], MoeAttribute.CaptionVisual), keepLayerInputs: true);
        using var layers = stack(encoded.LayerInputs!, 0).squeeze(1);
        TensorAssert.Close(output, "hidden.image_caption", GoldenFixture.Output("hidden.image_caption"), layers, Tolerances.Hidden);
    }

    [Fact]
    public void Video_pass_should_match_embedding_and_output()
    {
        var runner = GoldenModel.Runner;
        using var pixels = GoldenFixture.Input("video.clip_224").unsqueeze(0);                   // [1, T, 3, S, S]
        using var x = runner.EmbedVisual(pixels);
        TensorAssert.Close(output, "hidden.video_cls.embed", GoldenFixture.Output("hidden.video_cls.embed"), x.squeeze(0), Tolerances.Hidden);
        using var encoded = runner.Encode(x, TokenRouting.Uniform((int)x.shape[1], MoeAttribute.VisualInput));
        TensorAssert.Close(output, "hidden.video_cls.final", GoldenFixture.Output("hidden.video_cls.final"), encoded.Final.squeeze(0), Tolerances.Hidden);
    }

    /// <summary>The attribute vector the fixture recorded under inputs.safetensors attribute.NAME.</summary>
    private static MoeAttribute FixtureAttribute(string name) =>
        MoeAttribute.Parse(new string(GoldenFixture.Input("attribute." + name).data<float>().ToArray().Select(f => f > 0.5f ? '1' : '0').ToArray()));

    [Theory]
    [InlineData("classnames", "text.classnames", "classname_target_text")]
    [InlineData("captions_retrieval", "text.captions", "retrieval_target_text")]
    public void Padded_text_targets_should_match_every_layer_on_unpadded_positions(string name, string input, string attribute)
    {
        var runner = GoldenModel.Runner;
        var ids = GoldenFixture.Input(input + ".ids");
        var pad = GoldenFixture.Input(input + ".pad_mask");
        using var x = runner.EmbedText(ids);
        using var bias = runner.KeyBiasForPadding(pad);
        using var encoded = runner.Encode(x, TokenRouting.Uniform((int)x.shape[1], FixtureAttribute(attribute)), bias, keepLayerInputs: true);
        using var layers = stack(encoded.LayerInputs!, 0);                                       // [L+1, B, 1+Lt, D]
        // Compare the spe slot and unpadded tokens only: padded queries are computed but meaningless.
        using var keep = TorchScalar.Use(0L, zero => cat([zeros(pad.shape[0], 1, ScalarType.Int64), pad], 1).eq(zero));          // [B, 1+Lt]
        using var mask = keep.unsqueeze(0).unsqueeze(-1).to_type(ScalarType.Float32);
        var expected = GoldenFixture.Output("hidden." + name);
        using var e = expected * mask;
        using var a = layers * mask;
        TensorAssert.Close(output, "hidden." + name, e, a, Tolerances.Hidden);
    }
}
