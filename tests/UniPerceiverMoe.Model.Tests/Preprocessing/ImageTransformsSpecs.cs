using UniPerceiverMoe.Model.Preprocessing;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Preprocessing;

public class ImageTransformsSpecs(ITestOutputHelper output)
{
    /// <summary>One uint8 step after ImageNet normalisation: 1 / 255 / min(std).</summary>
    private const double OneStep = 1.0 / 255 / 0.224 + 1e-6;

    [Fact]
    [Trait("Category", "Golden")]
    public void ClipTransform_should_match_the_reference_clip_transforms()
        => CompareWithGolden("image.clip_224", ImageTransforms.ClipTransform);

    [Fact]
    [Trait("Category", "Golden")]
    public void ImageNetEvalTransform_should_match_the_reference_imagenet_build_transform()
        => CompareWithGolden("image.in1k_224", ImageTransforms.ImageNetEvalTransform);

    [Fact]
    public void ResizeShortSideSize_should_follow_torchvision_int_truncation()
    {
        Assert.Equal((224, 298), ImageTransforms.ResizeShortSideSize(240, 320, 224));
        Assert.Equal((256, 341), ImageTransforms.ResizeShortSideSize(240, 320, 256));
        Assert.Equal((298, 224), ImageTransforms.ResizeShortSideSize(320, 240, 224));
        Assert.Equal((224, 224), ImageTransforms.ResizeShortSideSize(500, 500, 224));
    }

    [Fact]
    public void CenterCropOffset_should_round_half_to_even_like_python()
    {
        Assert.Equal(37, ImageTransforms.CenterCropOffset(298, 224));
        Assert.Equal(0, ImageTransforms.CenterCropOffset(225, 224)); // round(0.5) == 0
        Assert.Equal(2, ImageTransforms.CenterCropOffset(227, 224)); // round(1.5) == 2
        Assert.Equal(58, ImageTransforms.CenterCropOffset(341, 224)); // round(58.5) == 58
    }

    [Fact]
    public void ClipTransform_should_accept_bytes_and_return_a_normalised_chw_tensor()
    {
        var gray = Enumerable.Repeat((byte)128, 100 * 150 * 3).ToArray();
        using var x = ImageTransforms.ClipTransform(gray, 100, 150);
        Assert.Equal([3L, 224, 224], x.shape);
        using var first = x[0, 0, 0];
        Assert.Equal((128f / 255f - 0.485f) / 0.229f, first.item<float>(), 5);
    }

    private void CompareWithGolden(string name, Func<Tensor, Device?, Tensor> transform)
    {
        var raw = PreprocessingFixtures.Input("image.raw_u8");
        var expected = PreprocessingFixtures.Input(name);
        using var actual = transform(raw, null);
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(ScalarType.Float32, actual.dtype);
        using var diff = (actual - expected).abs();
        double max = diff.max().item<float>();
        using var differing = TorchScalar.Use(0.0, zero => diff.gt(zero)).sum();
        long count = differing.item<long>();
        output.WriteLine($"{name}: max |diff| = {max:E3} (one uint8 step = {OneStep:E3}), {count} of {diff.numel()} values differ");
        Assert.True(max <= OneStep, $"{name}: max |diff| {max:E3} exceeds one uint8 step");
        Assert.True(count <= diff.numel() / 1000, $"{name}: {count} values differ");
    }
}
