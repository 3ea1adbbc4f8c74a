using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Host.Tests.Cli;
using UniPerceiverMoe.Host.Tests.Server;
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

    /// <summary>A 320x240 test picture written by ffmpeg (a PNG like any camera frame).</summary>
    public static string Picture()
    {
        string image = Path.Combine(CliHarness.TempDir(), "photo.png");
        TestVideos.Ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240", "-frames:v", "1", image);
        return image;
    }

    /// <summary>An image file as caption input [3, 224, 224] (the CLIP transform).</summary>
    public static Tensor CaptionPixels(string image)
    {
        var (rgb, height, width) = ImageDecoder.DecodeRgb(image);
        return ImageTransforms.ClipTransform(rgb, height, width);
    }
}
