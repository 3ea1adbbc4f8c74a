using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Routing;
using Xunit.Abstractions;
using static TorchSharp.torch;

using UniPerceiverMoe.TestSupport;

namespace UniPerceiverMoe.Model.Tests.Golden;

/// <summary>Projected features, classification logits and retrieval similarities against the original implementation.</summary>
[Trait("Category", "Golden")]
public sealed class HeadParitySpecs(ITestOutputHelper output)
{
    private static Tensor VisualFeature(UniPerceiverRunner runner, Tensor pixels, MoeAttribute attribute)
    {
        using var x = runner.EmbedVisual(pixels);
        using var encoded = runner.Encode(x, TokenRouting.Uniform((int)x.shape[1], attribute));
        return runner.SpeFeature(encoded.Final);
    }

    private static Tensor TextFeatures(UniPerceiverRunner runner, string input, MoeAttribute attribute)
    {
        using var x = runner.EmbedText(GoldenFixture.Input(input + ".ids"));
        using var bias = runner.KeyBiasForPadding(GoldenFixture.Input(input + ".pad_mask"));
        using var encoded = runner.Encode(x, TokenRouting.Uniform((int)x.shape[1], attribute), bias);
        return runner.SpeFeature(encoded.Final);
    }

    private static Tensor ImageIn1k => GoldenFixture.Input("image.in1k_224").unsqueeze(0).unsqueeze(0);
    private static Tensor ImageClip => GoldenFixture.Input("image.clip_224").unsqueeze(0).unsqueeze(0);
    private static Tensor Video => GoldenFixture.Input("video.clip_224").unsqueeze(0);

    [Fact]
    public void Visual_features_should_match_for_every_pass()
    {
        var runner = GoldenModel.Runner;
        using var imageCls = VisualFeature(runner, ImageIn1k, MoeAttribute.VisualInput);
        using var imageRet = VisualFeature(runner, ImageClip, MoeAttribute.VisualInput);
        using var video = VisualFeature(runner, Video, MoeAttribute.VisualInput);
        TensorAssert.Close(output, "feat.image_cls", GoldenFixture.Output("feat.image_cls"), imageCls, Tolerances.Features);
        TensorAssert.Close(output, "feat.image_retrieval", GoldenFixture.Output("feat.image_retrieval"), imageRet, Tolerances.Features);
        TensorAssert.Close(output, "feat.video_cls", GoldenFixture.Output("feat.video_cls"), video, Tolerances.Features);
        TensorAssert.Close(output, "feat.video_retrieval", GoldenFixture.Output("feat.video_retrieval"), video, Tolerances.Features);
    }

    [Fact]
    public void Target_features_should_match_class_names_and_captions()
    {
        var runner = GoldenModel.Runner;
        using var classes = TextFeatures(runner, "text.classnames", MoeAttribute.ClassNameTarget);
        using var captions = TextFeatures(runner, "text.captions", MoeAttribute.RetrievalTarget);
        TensorAssert.Close(output, "feat.classnames", GoldenFixture.Output("feat.classnames"), classes, Tolerances.Features);
        TensorAssert.Close(output, "feat.captions_retrieval", GoldenFixture.Output("feat.captions_retrieval"), captions, Tolerances.Features);
    }

    [Fact]
    public void Classification_logits_should_match_with_the_task_temperature()
    {
        var runner = GoldenModel.Runner;
        using var classes = TextFeatures(runner, "text.classnames", MoeAttribute.ClassNameTarget);
        using var image = VisualFeature(runner, ImageIn1k, MoeAttribute.VisualInput);
        using var video = VisualFeature(runner, Video, MoeAttribute.VisualInput);
        using var imageLogits = TorchScalar.Use(runner.Model.Head.Temperature("img_cls"), tau => image.matmul(classes.t()).mul(tau));
        using var videoLogits = TorchScalar.Use(runner.Model.Head.Temperature("video_cls"), tau => video.matmul(classes.t()).mul(tau));
        TensorAssert.Close(output, "logits.image_cls", GoldenFixture.Output("logits.image_cls"), imageLogits, Tolerances.Logits);
        TensorAssert.Close(output, "logits.video_cls", GoldenFixture.Output("logits.video_cls"), videoLogits, Tolerances.Logits);
    }

    [Fact]
    public void Retrieval_similarities_should_match()
    {
        var runner = GoldenModel.Runner;
        using var captions = TextFeatures(runner, "text.captions", MoeAttribute.RetrievalTarget);
        using var image = VisualFeature(runner, ImageClip, MoeAttribute.VisualInput);
        using var video = VisualFeature(runner, Video, MoeAttribute.VisualInput);
        using var imageSim = image.matmul(captions.t());
        using var videoSim = video.matmul(captions.t());
        TensorAssert.Close(output, "sim.image_to_captions", GoldenFixture.Output("sim.image_to_captions"), imageSim, Tolerances.Features);
        TensorAssert.Close(output, "sim.video_to_captions", GoldenFixture.Output("sim.video_to_captions"), videoSim, Tolerances.Features);
    }
}
