using UniPerceiverMoe.Model.Preprocessing;
using Xunit.Abstractions;
using UniPerceiverMoe.TestSupport;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Preprocessing;

public class LegacyBilinearSpecs(ITestOutputHelper output)
{
    [Theory]
    [InlineData(37, 53, 20, 29)]  // downscale
    [InlineData(11, 17, 23, 40)]  // upscale
    [InlineData(30, 40, 30, 25)]  // one axis unchanged
    public void Resize_should_agree_with_libtorch_bilinear_up_to_index_rounding(int h, int w, int oh, int ow)
    {
        using var scope = NewDisposeScope();
        manual_seed(3);
        var x = rand(2, 3, h, w);
        var ours = LegacyBilinear.Resize(x, oh, ow);
        var theirs = nn.functional.interpolate(x, size: [oh, ow], mode: InterpolationMode.Bilinear, align_corners: false);
        Assert.Equal(theirs.shape, ours.shape);
        double max = TensorAssert.MaxAbsDifference(theirs, ours);
        output.WriteLine($"{h}x{w} -> {oh}x{ow}: max |ours - libtorch 2.x| = {max:E3}");
        Assert.True(max < 1e-5, $"max |diff| {max:E3}");
    }

    [Fact]
    public void Resize_should_return_the_input_when_the_size_is_unchanged()
    {
        using var scope = NewDisposeScope();
        var x = rand(1, 3, 9, 13);
        Assert.True(LegacyBilinear.Resize(x, 9, 13).equal(x).all().item<bool>());
    }
}
