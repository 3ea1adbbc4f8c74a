using UniPerceiverMoe.Model.Preprocessing;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Preprocessing;

public class VideoTransformsSpecs(ITestOutputHelper output)
{
    [Fact]
    [Trait("Category", "Golden")]
    public void TimesformerTest_should_match_the_reference_msvd_test_transform()
    {
        var raw = PreprocessingFixtures.Input("video.raw_u8");
        var expected = PreprocessingFixtures.Input("video.clip_224");
        using var actual = VideoTransforms.TimesformerTest(raw);
        Assert.Equal(expected.shape, actual.shape);
        using var diff = (actual - expected).abs();
        double max = diff.max().item<float>();
        using var differing = TorchScalar.Use(0.0, zero => diff.gt(zero)).sum();
        output.WriteLine($"video.clip_224: max |diff| = {max:E3} (tolerance 1e-6), {differing.item<long>()} of {diff.numel()} values differ");
        Assert.True(max <= 1e-6, $"max |diff| {max:E3}");
    }

    [Fact]
    public void ShortSideScaleSize_should_floor_the_long_side_like_the_reference()
    {
        Assert.Equal((224, 298), VideoTransforms.ShortSideScaleSize(240, 320, 224));
        Assert.Equal((298, 224), VideoTransforms.ShortSideScaleSize(320, 240, 224));
        Assert.Equal((224, 398), VideoTransforms.ShortSideScaleSize(360, 640, 224)); // 398.22
        Assert.Equal((224, 224), VideoTransforms.ShortSideScaleSize(100, 100, 224));
    }

    [Fact]
    public void UniformCropOffset_should_move_along_the_long_axis_only()
    {
        Assert.Equal((0, 0), VideoTransforms.UniformCropOffset(224, 298, 224, 0));
        Assert.Equal((0, 37), VideoTransforms.UniformCropOffset(224, 298, 224, 1));
        Assert.Equal((0, 74), VideoTransforms.UniformCropOffset(224, 298, 224, 2));
        Assert.Equal((38, 0), VideoTransforms.UniformCropOffset(299, 224, 224, 1)); // ceil(37.5)
        Assert.Equal((75, 0), VideoTransforms.UniformCropOffset(299, 224, 224, 2));
    }

    [Fact]
    [Trait("Category", "Golden")]
    public void TimesformerTestThreeCrop_should_hold_the_center_crop_in_the_middle()
    {
        var raw = PreprocessingFixtures.Input("video.raw_u8");
        using var three = VideoTransforms.TimesformerTestThreeCrop(raw);
        using var center = VideoTransforms.TimesformerTest(raw);
        Assert.Equal([3L, .. center.shape], three.shape);                               // 3 crops of the centre crop's shape
        using var middle = three[1];
        Assert.True(middle.equal(center).all().item<bool>());
        using var left = three[0];
        Assert.False(left.equal(center).all().item<bool>());
    }

    [Fact]
    public void TimesformerTest_should_leave_frames_whose_short_side_is_224_unscaled()
    {
        using var frames = TorchScalar.Use(255L, white => full([2L, 224, 300, 3], white, ScalarType.Byte));
        using var x = VideoTransforms.TimesformerTest(frames);
        Assert.Equal([2L, 3, 224, 224], x.shape);
        using var max = x.max();
        using var min = x.min();
        Assert.Equal(1f, max.item<float>());
        Assert.Equal(1f, min.item<float>());
    }
}
