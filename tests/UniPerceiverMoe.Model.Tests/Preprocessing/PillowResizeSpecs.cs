using UniPerceiverMoe.Model.Preprocessing;

namespace UniPerceiverMoe.Model.Tests.Preprocessing;

public class PillowResizeSpecs
{
    [Fact]
    public void Bicubic_should_copy_an_image_resized_to_its_own_size()
    {
        var src = Enumerable.Range(0, 5 * 7 * 3).Select(i => (byte)(i * 7)).ToArray();
        Assert.Equal(src, PillowResize.Bicubic(src, 5, 7, 3, 5, 7));
    }

    [Theory]
    [InlineData(240, 320, 224, 298)]
    [InlineData(20, 30, 57, 41)]
    [InlineData(9, 9, 3, 17)]
    public void Bicubic_should_keep_a_constant_image_constant(int h, int w, int dh, int dw)
    {
        var src = Enumerable.Repeat((byte)201, h * w * 3).ToArray();
        var dst = PillowResize.Bicubic(src, h, w, 3, dh, dw);
        Assert.Equal(dh * dw * 3, dst.Length);
        Assert.All(dst, v => Assert.Equal(201, v));
    }

    [Fact]
    public void Bicubic_should_overshoot_and_clip_at_a_sharp_edge_when_upscaling()
    {
        // A 1-row step 0 -> 255: the a = -0.5 kernel rings, and the results are clipped to [0, 255].
        var src = new byte[] { 0, 0, 0, 0, 255, 255, 255, 255 };
        var dst = PillowResize.Bicubic(src, 1, 8, 1, 1, 16);
        Assert.Equal(0, dst[0]);
        Assert.Equal(255, dst[15]);
        Assert.True(dst.Zip(dst.Skip(1)).All(p => p.First <= p.Second), "a step stays monotone after clipping");
        Assert.Contains(dst, v => v is > 0 and < 255);
    }

    [Fact]
    public void Bicubic_should_average_with_a_wider_kernel_when_downscaling()
    {
        // Halving a 0/255 checker of period 2 gives mid-grey: the support grows with the scale (2 * 2 taps).
        var src = Enumerable.Range(0, 16).Select(i => (byte)(i % 2 == 0 ? 0 : 255)).ToArray();
        var dst = PillowResize.Bicubic(src, 1, 16, 1, 1, 8);
        Assert.All(dst[1..^1], v => Assert.InRange(v, 120, 135));
    }

    [Fact]
    public void Bicubic_should_reject_a_buffer_of_the_wrong_length()
        => Assert.Throws<ArgumentException>(() => PillowResize.Bicubic(new byte[10], 2, 2, 3, 1, 1));
}
