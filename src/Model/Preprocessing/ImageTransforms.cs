// Port of the reference's image eval transforms: uniperceiver/datasets/custom_transforms.py clip_transforms('test')
// and uniperceiver/datasets/task_dataset/imagenet.py build_transform(is_train=False), i.e. torchvision 0.14's
// Resize(int, BICUBIC) on a PIL image -> CenterCrop -> ToTensor -> Normalize(ImageNet mean/std).
using TorchSharp;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Preprocessing;

public static class ImageTransforms
{
    /// <summary>Side of the model input (MODEL.IMG_INPUT_SIZE).</summary>
    public const int InputSize = 224;

    /// <summary>Short side before the crop for ImageNet classification: int(256 / 224 * 224).</summary>
    public const int ImageNetResize = 256;

    // Python floats cast to float32 by torchvision's Normalize (double literal -> float, as torch does).
    private static readonly float[] ImageNetMean = [(float)0.485, (float)0.456, (float)0.406];
    private static readonly float[] ImageNetStd = [(float)0.229, (float)0.224, (float)0.225];

    /// <summary>Retrieval / captioning input: Resize(224, bicubic) -> CenterCrop(224) -> ToTensor -> Normalize.
    /// <paramref name="rgbHwcU8"/>: [H, W, 3] uint8 on any device (not consumed). Returns a new [3, 224, 224]
    /// float32 tensor on <paramref name="device"/> (CPU when null), owned by the caller.</summary>
    public static Tensor ClipTransform(Tensor rgbHwcU8, Device? device = null)
        => ResizeCropNormalize(rgbHwcU8, InputSize, InputSize, device);

    /// <summary>ImageNet classification input: Resize(256, bicubic) -> CenterCrop(224) -> ToTensor -> Normalize.
    /// Same contract as <see cref="ClipTransform(Tensor, Device?)"/>.</summary>
    public static Tensor ImageNetEvalTransform(Tensor rgbHwcU8, Device? device = null)
        => ResizeCropNormalize(rgbHwcU8, ImageNetResize, InputSize, device);

    /// <summary><see cref="ClipTransform(Tensor, Device?)"/> over an interleaved RGB byte array of h*w*3.</summary>
    public static Tensor ClipTransform(byte[] rgbHwc, int height, int width, Device? device = null)
        => ResizeCropNormalize(rgbHwc, height, width, InputSize, InputSize, device);

    /// <summary><see cref="ImageNetEvalTransform(Tensor, Device?)"/> over an interleaved RGB byte array of h*w*3.</summary>
    public static Tensor ImageNetEvalTransform(byte[] rgbHwc, int height, int width, Device? device = null)
        => ResizeCropNormalize(rgbHwc, height, width, ImageNetResize, InputSize, device);

    /// <summary>Resize short side to <paramref name="resizeShort"/> (Pillow bicubic), center crop
    /// <paramref name="crop"/>, ToTensor, ImageNet Normalize. Returns [3, crop, crop] float32.</summary>
    public static Tensor ResizeCropNormalize(Tensor rgbHwcU8, int resizeShort, int crop, Device? device = null)
    {
        if (rgbHwcU8.dim() != 3 || rgbHwcU8.size(2) != 3 || rgbHwcU8.dtype != ScalarType.Byte)
            throw new ArgumentException($"expected an [H, W, 3] uint8 tensor, got [{string.Join(", ", rgbHwcU8.shape)}] {rgbHwcU8.dtype}", nameof(rgbHwcU8));
        int h = (int)rgbHwcU8.size(0), w = (int)rgbHwcU8.size(1);
        byte[] pixels;
        using (NewDisposeScope()) pixels = rgbHwcU8.detach().cpu().contiguous().bytes.ToArray();
        return ResizeCropNormalize(pixels, h, w, resizeShort, crop, device);
    }

    /// <summary>Byte-array form of <see cref="ResizeCropNormalize(Tensor, int, int, Device?)"/>.</summary>
    public static Tensor ResizeCropNormalize(byte[] rgbHwc, int height, int width, int resizeShort, int crop, Device? device = null)
    {
        if (rgbHwc.Length != (long)height * width * 3)
            throw new ArgumentException($"expected {height}x{width}x3 bytes, got {rgbHwc.Length}", nameof(rgbHwc));
        var (newH, newW) = ResizeShortSideSize(height, width, resizeShort);
        var resized = PillowResize.Bicubic(rgbHwc, height, width, 3, newH, newW);
        var cropped = CenterCropHwc(resized, newH, newW, 3, crop, crop);
        return ToTensorNormalize(cropped, crop, crop, ImageNetMean, ImageNetStd, device);
    }

    /// <summary>torchvision Resize(int) output size for an image of height x width: the short side becomes
    /// <paramref name="size"/>, the long side int(size * long / short) (truncated). Returns (height, width).</summary>
    public static (int Height, int Width) ResizeShortSideSize(int height, int width, int size)
    {
        int shortSide = Math.Min(height, width), longSide = Math.Max(height, width);
        int newLong = (int)((double)size * longSide / shortSide);
        return width <= height ? (newLong, size) : (size, newLong);
    }

    /// <summary>torchvision center_crop offset: int(round((size - crop) / 2.0)) with Python's round-half-even.</summary>
    public static int CenterCropOffset(int size, int crop) => (int)Math.Round((size - crop) / 2.0, MidpointRounding.ToEven);

    /// <summary>Center crop of an HWC byte image. Crops larger than the image are not supported (torchvision would
    /// zero-pad; the eval resizes never produce them).</summary>
    internal static byte[] CenterCropHwc(byte[] src, int h, int w, int channels, int cropH, int cropW)
    {
        if (cropH > h || cropW > w)
            throw new ArgumentException($"crop {cropH}x{cropW} larger than the image {h}x{w}");
        int top = CenterCropOffset(h, cropH), left = CenterCropOffset(w, cropW);
        var dst = new byte[cropH * cropW * channels];
        for (int y = 0; y < cropH; y++)
            src.AsSpan(((top + y) * w + left) * channels, cropW * channels).CopyTo(dst.AsSpan(y * cropW * channels));
        return dst;
    }

    /// <summary>ToTensor (HWC uint8 -> CHW float32 / 255) then Normalize ((x - mean) / std), with the same float32
    /// operations as torchvision so the result is bitwise equal. Returns [3, h, w] on <paramref name="device"/>.</summary>
    internal static Tensor ToTensorNormalize(byte[] hwc, int h, int w, float[] mean, float[] std, Device? device)
    {
        using var scope = NewDisposeScope();
        var u8 = tensor(hwc, [h, w, 3], ScalarType.Byte, device);
        var chw = TorchScalar.Use(255f, d => u8.permute(2, 0, 1).to_type(ScalarType.Float32).div(d));
        var m = tensor(mean, [3, 1, 1], ScalarType.Float32, device);
        var s = tensor(std, [3, 1, 1], ScalarType.Float32, device);
        return chw.sub(m).div(s).contiguous().MoveToOuterDisposeScope();
    }
}
