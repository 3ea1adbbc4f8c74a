using UniPerceiverMoe.Model.Preprocessing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Host.Inputs;

/// <summary>Reads images, videos and stored tensors into model inputs with the reference's eval preprocessing.
/// Every failure is an <see cref="InputException"/> naming the file, URL or tensor.</summary>
public static class VisualLoader
{
    public static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg"];

    /// <summary>Decodes an image file and applies <paramref name="pipeline"/>: [3, 224, 224] float32.</summary>
    public static VisualInput LoadImage(string path, ImagePipeline pipeline)
    {
        if (Directory.Exists(path)) throw new InputException(path, "is a directory, not an image");
        if (!File.Exists(path)) throw new InputException(path, "image not found");
        var (hwc, height, width) = InputErrors.Guard(path, () => ImageDecoder.DecodeRgb(path));
        var pixels = pipeline == ImagePipeline.Clip
            ? ImageTransforms.ClipTransform(hwc, height, width)
            : ImageTransforms.ImageNetEvalTransform(hwc, height, width);
        return new VisualInput(path, pixels, IsVideo: false);
    }

    /// <summary>Samples and preprocesses a video (path or URL) as the reference evaluates it: one clip of
    /// <paramref name="frames"/> frames at <paramref name="stride"/> (in frames of a 30 fps video) →
    /// [T, 3, 224, 224]; with <paramref name="views"/> &gt; 1, the K400 'v2' protocol: one clip of frames × views
    /// frames at stride / views, split into interleaved views → [V, T, 3, 224, 224].</summary>
    public static async Task<VisualInput> LoadVideoAsync(string input, int frames, int stride, int views, CancellationToken cancellation)
    {
        bool url = input.Contains("://", StringComparison.Ordinal);
        if (!url && Directory.Exists(input)) throw new InputException(input, "is a directory, not a video");
        if (!url && !File.Exists(input)) throw new InputException(input, "video not found");
        if (!url && new FileInfo(input).Length == 0) throw new InputException(input, "the file is empty (0 bytes), not a video");
        var (clipFrames, clipStride) = FrameSampler.MultiViewClip(frames, stride, views);
        using var clips = await InputErrors.GuardAsync(input,
            () => VideoClipReader.ReadEvalClipsAsync(input, clipFrames, clipStride, numClips: 1, cancellationToken: cancellation)).ConfigureAwait(false);
        using var clip = clips[0];                                       // [views * T, H, W, 3] uint8
        var pixels = VideoTransforms.TimesformerTest(clip);              // [views * T, 3, 224, 224]
        if (views == 1) return new VisualInput(input, pixels, IsVideo: true);
        using (pixels)
        using (var one = pixels.unsqueeze(0))
            return new VisualInput(input, FrameSampler.SplitViews(one, views, MultiViewMode.V2), IsVideo: true);
    }

    /// <summary>Every PNG/JPEG file of <paramref name="directory"/> (not recursive), sorted by name.</summary>
    public static IReadOnlyList<string> ImagesIn(string directory)
    {
        if (File.Exists(directory)) throw new InputException(directory, "is a file, not a directory of images");
        if (!Directory.Exists(directory)) throw new InputException(directory, "directory not found");
        var files = Directory.EnumerateFiles(directory)
            .Where(f => ImageExtensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal)
            .ToArray();
        return files.Length > 0 ? files : throw new InputException(directory, "holds no .png, .jpg or .jpeg image");
    }
}
