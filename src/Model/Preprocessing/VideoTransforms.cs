// Port of the reference's video test transforms (uniperceiver/datasets/task_dataset/msvd.py and video_raw.py
// `_timesformer_transform`, test mode) with video_transform.py random_short_side_scale_jitter(224, 224) and
// uniform_crop: per-frame ToTensor -> bilinear F.interpolate(align_corners=False) of the short side to 224 (with
// PyTorch 1.13's index arithmetic, see LegacyBilinear) -> crop -> Normalize(0.5, 0.5).
using TorchSharp;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Preprocessing;

public static class VideoTransforms
{
    /// <summary>Spatial side of every frame fed to the model (MODEL.IMG_INPUT_SIZE).</summary>
    public const int InputSize = 224;

    /// <summary>MSVD / MSR-VTT test transform (one center crop). <paramref name="framesThwcU8"/>: [T, H, W, 3] uint8
    /// on any device (not consumed). Returns a new [T, 3, 224, 224] float32 tensor on <paramref name="device"/>
    /// (CPU when null), owned by the caller.</summary>
    public static Tensor TimesformerTest(Tensor framesThwcU8, Device? device = null)
    {
        Validate(framesThwcU8);
        if (FusedVideoCrop.Applies(framesThwcU8, device))
        {
            var (_, h, w) = ScaledSize((int)framesThwcU8.size(1), (int)framesThwcU8.size(2), InputSize);
            return FusedVideoCrop.Run(framesThwcU8, h, w, InputSize,
                [(ImageTransforms.CenterCropOffset(h, InputSize), ImageTransforms.CenterCropOffset(w, InputSize))], stackCrops: false);
        }
        return TorchTimesformerTest(framesThwcU8, device);
    }

    /// <summary><see cref="TimesformerTest"/> as torch ops on <paramref name="device"/> (the path of non-CPU devices;
    /// the fused CPU path must give its bits).</summary>
    internal static Tensor TorchTimesformerTest(Tensor framesThwcU8, Device? device)
    {
        using var scope = NewDisposeScope();
        var scaled = ScaleShortSide(framesThwcU8, InputSize, device);
        int h = (int)scaled.size(2), w = (int)scaled.size(3);
        // torchvision CenterCrop on a tensor: offsets int(round((size - crop) / 2.0)).
        int top = ImageTransforms.CenterCropOffset(h, InputSize), left = ImageTransforms.CenterCropOffset(w, InputSize);
        var cropped = scaled.narrow(2, top, InputSize).narrow(3, left, InputSize);
        return Normalize(cropped).MoveToOuterDisposeScope();
    }

    /// <summary>Kinetics-400 test transform (video_raw.py VideoDataSet): three uniform crops (left, center, right —
    /// or top, center, bottom for portrait frames) stacked first. Same input contract as
    /// <see cref="TimesformerTest"/>; returns [3, T, 3, 224, 224] float32.</summary>
    public static Tensor TimesformerTestThreeCrop(Tensor framesThwcU8, Device? device = null)
    {
        Validate(framesThwcU8);
        if (FusedVideoCrop.Applies(framesThwcU8, device))
        {
            var (_, h, w) = ScaledSize((int)framesThwcU8.size(1), (int)framesThwcU8.size(2), InputSize);
            return FusedVideoCrop.Run(framesThwcU8, h, w, InputSize,
                [.. Enumerable.Range(0, 3).Select(i => UniformCropOffset(h, w, InputSize, i))], stackCrops: true);
        }
        return TorchTimesformerTestThreeCrop(framesThwcU8, device);
    }

    /// <summary><see cref="TimesformerTestThreeCrop"/> as torch ops (see <see cref="TorchTimesformerTest"/>).</summary>
    internal static Tensor TorchTimesformerTestThreeCrop(Tensor framesThwcU8, Device? device)
    {
        using var scope = NewDisposeScope();
        var scaled = ScaleShortSide(framesThwcU8, InputSize, device);
        var crops = new Tensor[3];
        for (int i = 0; i < 3; i++)
        {
            var (y, x) = UniformCropOffset((int)scaled.size(2), (int)scaled.size(3), InputSize, i);
            crops[i] = scaled.narrow(2, y, InputSize).narrow(3, x, InputSize);
        }
        return Normalize(stack(crops, 0)).MoveToOuterDisposeScope();
    }

    /// <summary>Output (height, width) of random_short_side_scale_jitter with min = max = size: the short side
    /// becomes size, the long side floor(long / short * size) computed in double as Python does.</summary>
    public static (int Height, int Width) ShortSideScaleSize(int height, int width, int size)
    {
        if (width < height) return ((int)Math.Floor((double)height / width * size), size);
        return (size, (int)Math.Floor((double)width / height * size));
    }

    /// <summary>video_transform.uniform_crop offsets (y, x): ceil((size - crop) / 2) on both axes, with the long
    /// axis moved to 0 (spatialIdx 0) or size - crop (spatialIdx 2).</summary>
    public static (int Y, int X) UniformCropOffset(int height, int width, int crop, int spatialIdx)
    {
        if (spatialIdx is < 0 or > 2) throw new ArgumentOutOfRangeException(nameof(spatialIdx), spatialIdx, "0, 1 or 2");
        int y = (int)Math.Ceiling((height - crop) / 2.0), x = (int)Math.Ceiling((width - crop) / 2.0);
        if (height > width)
        {
            if (spatialIdx == 0) y = 0;
            else if (spatialIdx == 2) y = height - crop;
        }
        else
        {
            if (spatialIdx == 0) x = 0;
            else if (spatialIdx == 2) x = width - crop;
        }
        return (y, x);
    }

    /// <summary>ToTensor + short-side scaling: [T, H, W, 3] uint8 -> [T, 3, H', W'] float32 in [0, 1] on
    /// <paramref name="device"/>. The result lives in the caller's dispose scope.</summary>
    private static Tensor ScaleShortSide(Tensor framesThwcU8, int size, Device? device)
    {
        int h = (int)framesThwcU8.size(1), w = (int)framesThwcU8.size(2);
        // ToTensor makes each frame a contiguous CHW tensor (the reference resizes NCHW-contiguous frames).
        var frames = framesThwcU8.to(device ?? CPU).permute(0, 3, 1, 2).contiguous().to_type(ScalarType.Float32);
        TorchScalar.Use(255f, d => frames.div_(d));
        var (scale, newH, newW) = ScaledSize(h, w, size);
        return scale ? LegacyBilinear.Resize(frames, newH, newW) : frames;
    }

    /// <summary>Whether frames of height x width are rescaled, and to what: the reference returns the frames
    /// untouched when the short side already equals size (then the size is height x width).</summary>
    private static (bool Scale, int Height, int Width) ScaledSize(int height, int width, int size)
    {
        if ((width <= height && width == size) || (height <= width && height == size)) return (false, height, width);
        var (h, w) = ShortSideScaleSize(height, width, size);
        return (true, h, w);
    }

    private static void Validate(Tensor framesThwcU8)
    {
        if (framesThwcU8.dim() != 4 || framesThwcU8.size(3) != 3 || framesThwcU8.dtype != ScalarType.Byte)
            throw new ArgumentException($"expected a [T, H, W, 3] uint8 tensor, got [{string.Join(", ", framesThwcU8.shape)}] {framesThwcU8.dtype}", nameof(framesThwcU8));
    }

    /// <summary>Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)) over the channel axis (third from last), as float32.</summary>
    private static Tensor Normalize(Tensor x) => TorchScalar.Use(0.5f, half => x.sub(half).div_(half)).contiguous();
}
