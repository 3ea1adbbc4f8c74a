using UniPerceiverMoe.Model.Preprocessing;

namespace UniPerceiverMoe.Model.Tests.Preprocessing;

[Collection("ffmpeg")]
public sealed class VideoClipReaderSpecs(TestVideo video) : IClassFixture<TestVideo>
{
    [Fact]
    public async Task ReadEvalClipsAsync_should_decode_the_reference_frame_indices()
    {
        // 60 frames at 30 fps, 4 frames at stride 32: indices 0, 32, 64 % 60 = 4, 96 % 60 = 36.
        using var clip = await VideoClipReader.ReadEvalClipsAsync(video.Path, framesPerClip: 4, stride: 32);
        Assert.Equal([1L, 4, 240, 320, 3], clip.shape);
        var all = await FfmpegVideoReaderSpecs.Collect(FfmpegVideoReader.ReadFramesAsync(video.Path));
        int[] expected = [0, 32, 4, 36];
        for (int i = 0; i < 4; i++)
        {
            using var frame = clip[0, i];
            Assert.Equal(all[expected[i]].Rgb, PreprocessingFixtures.Bytes(frame));
        }
        using var first = clip[0];
        using var input = VideoTransforms.TimesformerTest(first);
        Assert.Equal([4L, 3, 224, 224], input.shape);
    }

    [Fact]
    public async Task ReadClipsAsync_should_stand_in_the_last_decoded_frame_for_indices_past_the_end()
    {
        using var clip = await VideoClipReader.ReadClipsAsync(video.Path, [[10, 59, 80]]);
        using var last = clip[0, 1];
        using var missing = clip[0, 2];
        Assert.Equal(PreprocessingFixtures.Bytes(last), PreprocessingFixtures.Bytes(missing));
    }
}
