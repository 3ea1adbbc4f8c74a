using UniPerceiverMoe.Model.Preprocessing;
using UniPerceiverMoe.Demo.Synthetic;

namespace UniPerceiverMoe.Model.Tests.Synthetic;

public sealed class SyntheticVideoWriterSpecs
{
    [Theory]
    [InlineData(".mp4", 6.0)]
    [InlineData(".avi", 6.0)]
    public async Task Written_video_should_decode_back_to_the_model_frames_within_codec_error(string extension, double maxMeanError)
    {
        var generator = new SyntheticVideoGenerator();
        var clip = generator.Sample(21, 4);
        string dir = Path.Combine(Path.GetTempPath(), $"upmoe-synth-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            string path = Path.Combine(dir, "clip" + extension);
            await SyntheticVideoWriter.WriteAsync(clip, generator.Options, path);
            var probe = await FfmpegVideoReader.ProbeAsync(path, countFrames: true);
            Assert.Equal(generator.Options.TotalFrames, probe.FrameCount);
            using var decoded = await VideoClipReader.ReadEvalClipsAsync(path, generator.Options.FramesPerClip, generator.Options.Stride);
            using var rendered = ClipRenderer.RenderModelFrames(clip, generator.Options);
            Assert.Equal(new long[] { 1, 4, 224, 224, 3 }, decoded.shape);
            using var diff = decoded[0].to_type(TorchSharp.torch.ScalarType.Float32).sub(rendered.to_type(TorchSharp.torch.ScalarType.Float32)).abs();
            double meanError = diff.mean().item<float>();
            Assert.True(meanError < maxMeanError, $"mean absolute error {meanError:F2} levels");
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
