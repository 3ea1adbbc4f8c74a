using UniPerceiverMoe.Model.Preprocessing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Preprocessing;

/// <summary>The fused CPU video transform gives the torch path's bits, for downscaled, upscaled, portrait and
/// unscaled frames, for the centre crop and the three uniform crops.</summary>
public class FusedVideoCropSpecs
{
    [Theory]
    [InlineData(4, 240, 320)]     // landscape, downscaled (the stream benchmark's frames)
    [InlineData(2, 360, 640)]     // wide: long side floored (398.22)
    [InlineData(3, 320, 240)]     // portrait
    [InlineData(1, 97, 131)]      // upscaled, odd sizes
    [InlineData(2, 224, 300)]     // short side already 224: left unscaled
    [InlineData(1, 301, 224)]     // portrait, unscaled
    public void The_fused_path_should_give_the_torch_paths_bits(int frames, int height, int width)
    {
        using var raw = Frames(frames, height, width, seed: height * 7 + width);
        using var fused = VideoTransforms.TimesformerTest(raw);
        using var torchPath = VideoTransforms.TorchTimesformerTest(raw, CPU);
        Assert.Equal(torchPath.shape, fused.shape);
        Assert.True(fused.equal(torchPath).all().item<bool>(), $"{frames}x{height}x{width}: max |diff| {MaxDiff(fused, torchPath):E3}");

        using var three = VideoTransforms.TimesformerTestThreeCrop(raw);
        using var threeTorch = VideoTransforms.TorchTimesformerTestThreeCrop(raw, CPU);
        Assert.Equal(threeTorch.shape, three.shape);
        Assert.True(three.equal(threeTorch).all().item<bool>(), $"three crops {frames}x{height}x{width}: max |diff| {MaxDiff(three, threeTorch):E3}");
    }

    [Fact]
    public void A_non_contiguous_input_should_give_the_same_bits_as_its_contiguous_copy()
    {
        using var wide = Frames(2, 240, 640, seed: 3);
        using var strided = wide.narrow(2, 100, 320);          // every row skips 320 pixels
        Assert.False(strided.is_contiguous());
        using var copy = strided.contiguous();
        using var a = VideoTransforms.TimesformerTest(strided);
        using var b = VideoTransforms.TorchTimesformerTest(copy, CPU);
        Assert.True(a.equal(b).all().item<bool>());
    }

    [Fact]
    public void Bad_frames_should_be_refused_before_either_path()
    {
        using var rgba = zeros([1L, 240, 320, 4], ScalarType.Byte);
        var e = Assert.Throws<ArgumentException>(() => VideoTransforms.TimesformerTest(rgba));
        Assert.Contains("[1, 240, 320, 4]", e.Message);
    }

    private static Tensor Frames(int t, int h, int w, int seed)
    {
        var bytes = new byte[t * h * w * 3];
        new Random(seed).NextBytes(bytes);
        return tensor(bytes, [t, h, w, 3], ScalarType.Byte);
    }

    private static double MaxDiff(Tensor a, Tensor b)
    {
        using var d = (a - b).abs().max();
        return d.item<float>();
    }
}
