using Akka.Actor;
using Akka.Streams;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Model.Preprocessing;
using UniPerceiverMoe.Streams.Sources;

namespace UniPerceiverMoe.Streams.Tests.Flows;

public sealed class FrameSourceSpecs : IAsyncLifetime
{
    private readonly ActorSystem system = ActorSystem.Create("frame-source-specs");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await system.Terminate();

    [Fact]
    public async Task Raw_pipe_should_yield_consecutive_frames_at_its_rate()
    {
        var bytes = Enumerable.Range(0, 3 * 4 * 2 * 3).Select(i => (byte)i).ToArray(); // 3 frames of 4x2
        var source = FrameSources.RawRgb(new MemoryStream(bytes), width: 4, height: 2, fps: 10);

        var frames = await source.Frames.RunWith(Sink.Seq<VideoFrame>(), system.Materializer()).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(source.Live);
        Assert.Equal([0, 1, 2], frames.Select(f => f.Index));
        Assert.Equal(TimeSpan.FromSeconds(0.2), frames[2].Timestamp);
        Assert.Equal(bytes[24..48], frames[1].Rgb);
    }

    [Fact]
    public async Task Raw_pipe_should_fail_on_a_truncated_frame_naming_the_input()
    {
        var source = FrameSources.RawRgb(new MemoryStream(new byte[4 * 2 * 3 + 5]), width: 4, height: 2, fps: 10, name: "camera-pipe");

        var e = await Assert.ThrowsAsync<VideoDecodeException>(() =>
            source.Frames.RunWith(Sink.Seq<VideoFrame>(), system.Materializer()).WaitAsync(TimeSpan.FromSeconds(10)));

        Assert.Contains("camera-pipe", e.Message);
        Assert.Contains("ended inside frame 1", e.Message);
    }
}
