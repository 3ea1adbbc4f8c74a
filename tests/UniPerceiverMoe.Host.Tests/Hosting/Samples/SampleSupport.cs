using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Host.Tests.Cli;
using UniPerceiverMoe.Model.Preprocessing;
using UniPerceiverMoe.TestSupport;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Host.Tests.Hosting.Samples;

/// <summary>What the README samples configure (golden checkpoint, hocon keys only) and feed (a decoded image).</summary>
internal static class SampleSupport
{
    /// <summary>The engine's HOCON in the samples: the checkpoint and this test run's vocabulary, cache and thread count.</summary>
    public static string Hocon(string? checkpoint = null) => $"""
        upmoe.engine.checkpoint = {UpmoeConfig.Quote(checkpoint ?? GoldenModel.CheckpointPath)}
        upmoe.engine.vocab = {UpmoeConfig.Quote(CliHarness.Vocab)}
        upmoe.engine.cache-dir = {UpmoeConfig.Quote(CliHarness.CacheDir)}
        upmoe.engine.torch-threads = 1
        """;

    /// <summary>A 320x240 PNG picture (colour bars over a gradient), like any camera frame.</summary>
    public static string Picture()
    {
        const int height = 240, width = 320;
        var rgb = new byte[height * width * 3];
        byte[][] bars = [[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0], [0, 0, 255], [0, 0, 0]];
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                for (int c = 0; c < 3; c++)
                    rgb[(y * width + x) * 3 + c] = (byte)(bars[x * bars.Length / width][c] * (height - y / 2) / height);
        string image = Path.Combine(CliHarness.TempDir(), "photo.png");
        File.WriteAllBytes(image, PngWriter.EncodeRgb(rgb, height, width));
        return image;
    }

    /// <summary>An image file as caption input [3, 224, 224] (the CLIP transform).</summary>
    public static Tensor CaptionPixels(string image)
    {
        var (rgb, height, width) = ImageDecoder.DecodeRgb(image);
        return ImageTransforms.ClipTransform(rgb, height, width);
    }
}

/// <summary>The hosting samples run one at a time (each loads the model and owns an actor system).</summary>
[CollectionDefinition(Name)]
public sealed class HostingSamplesCollection
{
    public const string Name = "Hosting samples";
}
