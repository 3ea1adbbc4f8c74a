using UniPerceiverMoe.Streams.Settings;
using UniPerceiverMoe.Streams.Hub;
using System.Collections.Concurrent;
using UniPerceiverMoe.Model.Preprocessing;
using UniPerceiverMoe.Streams.Batching;
using UniPerceiverMoe.Streams.Flows;
using UniPerceiverMoe.Streams.Sources;
using UniPerceiverMoe.Streams.Tests.Support;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Streams.Tests.Hub;

/// <summary>Caption streams over the golden tiny model and ffmpeg-made 3 s clips (90 frames at 30 fps: with the
/// default window 4, stride 8, hop 1 s, three windows each).</summary>
public sealed class CaptionStreamHubSpecs(StreamEngine host, ITestOutputHelper output) : IClassFixture<StreamEngine>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private CaptionStreamHub Hub(StreamSettings settings, IWindowEngine captioner) =>
        new(host.Engine.System, captioner, settings);

    private InstrumentedCaptioner Captioner(TimeSpan delay = default, Func<int, Exception?>? failCall = null) =>
        new(new EngineWindows(host.Engine), delay, failCall);

    [Fact]
    public async Task Concurrent_streams_should_caption_in_order_while_a_corrupt_stream_fails_alone()
    {
        var captioner = Captioner();
        await using var hub = Hub(StreamEngine.Settings("upmoe.streams.max-delay = 200ms"), captioner);
        var captions = new ConcurrentDictionary<string, ConcurrentQueue<StreamCaption>>();
        var good = TestVideos.Clips
            .Select((path, i) => hub.AddStream($"clip{i}", FrameSources.VideoFile(path, 30), c => captions.GetOrAdd(c.StreamId, _ => new()).Enqueue(c)))
            .ToArray();
        var corruptPath = TestVideos.Corrupt();
        var corrupt = hub.AddStream("corrupt", FrameSources.VideoFile(corruptPath, 30), _ => { });

        var error = await Assert.ThrowsAsync<CaptionStreamException>(() => corrupt.Completion.WaitAsync(Timeout));
        await Task.WhenAll(good.Select(s => s.Completion)).WaitAsync(Timeout);

        output.WriteLine(error.Message);
        Assert.Contains(corruptPath, error.Message);
        Assert.IsType<VideoDecodeException>(error.InnerException);
        Assert.Equal(0, corrupt.Stats.WindowsIn.Value);
        foreach (var s in good)
        {
            output.WriteLine($"{s.Id}: {s.Stats.Snapshot()} {s.Stats.LastError}");
            var got = captions[s.Id].ToArray();
            Assert.Equal([0L, 1L, 2L], got.Select(c => c.Window));
            Assert.Equal([[0, 8, 16, 24], [30, 38, 46, 54], [60, 68, 76, 84]], got.Select(c => c.FrameIndices.ToArray()));
            Assert.All(got, c => Assert.NotEmpty(c.Ids));
            Assert.Equal((3, 3, 0, 0, 3), (s.Stats.WindowsIn.Value, s.Stats.Captioned.Value, s.Stats.Dropped.Value, s.Stats.Failed.Value, s.Stats.Emitted.Value));
            Assert.True(s.Stats.Balanced);
        }
        output.WriteLine($"batch sizes: {string.Join(" ", captioner.BatchSizes)}");
        Assert.Equal(9, captioner.BatchSizes.Sum());
        Assert.Empty(hub.Streams); // ended streams are evicted with their state
    }

    [Fact]
    public async Task Stream_captions_should_equal_engine_captions_of_the_same_frames()
    {
        var captioner = Captioner();
        await using var hub = Hub(StreamEngine.Settings("upmoe.streams.max-delay = 300ms"), captioner);
        var captions = new ConcurrentQueue<StreamCaption>();
        var clips = TestVideos.Clips.Take(2).ToArray();
        var streams = clips.Select((path, i) => hub.AddStream(path, FrameSources.VideoFile(path, 30), captions.Enqueue)).ToArray();
        await Task.WhenAll(streams.Select(s => s.Completion)).WaitAsync(Timeout);
        output.WriteLine($"batch sizes: {string.Join(" ", captioner.BatchSizes)}");

        Assert.Equal(6, captions.Count);
        foreach (var path in clips)
        {
            var frames = new List<VideoFrame>();
            await foreach (var f in FfmpegVideoReader.ReadFramesAsync(path, new FfmpegOptions { Fps = 30 })) frames.Add(f);
            foreach (var c in captions.Where(c => c.StreamId == path))
            {
                var window = new Windows.FrameWindow(path, c.Window, c.FrameIndices.Select(i => frames[i]).ToArray(), 0);
                using var pixels = WindowFlows.Preprocess(window);
                var single = await host.Engine.CaptionAsync(pixels);
                output.WriteLine($"{Path.GetFileName(path)} #{c.Window}: '{c.Text}'");
                Assert.Equal(single.Best.Tokens, c.Ids);
            }
        }
    }

    [Fact]
    public async Task Overloaded_live_stream_should_drop_oldest_windows_with_bounded_buffer_and_latency()
    {
        // Windows every 100 ms (22 in the clip), one engine call at a time, each slowed by 250 ms: the engine keeps up
        // with fewer than half of them. Without dropping, the last window would wait for ~15 calls (> 4 s).
        var settings = StreamEngine.Settings("upmoe.streams { hop = 100ms, buffer-size = 2, in-flight-per-stream = 1, max-batch = 1, max-delay = 1ms }");
        var captioner = Captioner(delay: TimeSpan.FromMilliseconds(250));
        await using var hub = Hub(settings, captioner);
        var captions = new ConcurrentQueue<StreamCaption>();
        var live = hub.AddStream("live", FrameSources.VideoFile(TestVideos.Clips[0], 30, realtime: true), captions.Enqueue);
        await live.Completion.WaitAsync(Timeout);

        var stats = live.Stats.Snapshot();
        output.WriteLine(stats.ToString());
        Assert.Equal(22, stats.WindowsIn);
        Assert.True(stats.Dropped > 0, "an engine that cannot keep up must cause counted drops");
        Assert.Equal(0, stats.Failed);
        Assert.True(live.Stats.Balanced, $"in {stats.WindowsIn} != captioned {stats.Captioned} + dropped {stats.Dropped} + failed {stats.Failed}");
        Assert.InRange(stats.MaxBuffered, 1, settings.BufferSize);
        Assert.Equal(1, stats.MaxInFlight);
        Assert.Equal(21, captions.Last().Window); // drop-oldest keeps the newest window
        Assert.Equal(captions.Select(c => c.Window).Order(), captions.Select(c => c.Window));
        // An admitted window waits for at most the windows ahead of it: the one in flight, one at the async
        // boundary, one in the buffer, then its own call (each 250 ms + the tiny model's time), plus preprocessing.
        double bound = (settings.BufferSize + 3) * captioner.MaxCallMs + 500;
        output.WriteLine($"longest call {captioner.MaxCallMs:F0} ms, latency bound {bound:F0} ms");
        Assert.InRange(stats.MaxMs, 0, bound);
    }

    [Fact]
    public async Task Failed_engine_call_should_be_counted_and_the_stream_should_go_on()
    {
        var captioner = Captioner(failCall: call => call == 2 ? new InvalidOperationException("injected engine failure") : null);
        await using var hub = Hub(StreamEngine.Settings("upmoe.streams { max-batch = 1, in-flight-per-stream = 1 }"), captioner);
        var captions = new ConcurrentQueue<StreamCaption>();
        var stream = hub.AddStream("clip", FrameSources.VideoFile(TestVideos.Clips[1], 30), captions.Enqueue);
        await stream.Completion.WaitAsync(Timeout);

        Assert.Equal([0L, 2L], captions.Select(c => c.Window));
        Assert.Equal((3, 2, 0, 1), (stream.Stats.WindowsIn.Value, stream.Stats.Captioned.Value, stream.Stats.Dropped.Value, stream.Stats.Failed.Value));
        Assert.Contains("injected engine failure", stream.Stats.LastError);
    }

    [Fact]
    public async Task Host_app_should_read_captions_as_an_async_sequence_that_ends_with_the_stream()
    {
        await using var hub = Hub(StreamEngine.Settings(), Captioner());
        var stream = hub.AddStream("app", FrameSources.VideoFile(TestVideos.Clips[0], 30), CaptionSinks.AsyncEnumerable(out var captions, capacity: 1));

        var windows = new List<long>();
        await foreach (var c in captions.WithCancellation(new CancellationTokenSource(Timeout).Token)) windows.Add(c.Window);
        await stream.Completion.WaitAsync(Timeout);

        Assert.Equal([0L, 1L, 2L], windows);
        Assert.True(stream.Stats.Balanced);
    }

    [Fact]
    public async Task Removed_stream_should_stop_early_and_account_for_every_window()
    {
        await using var hub = Hub(StreamEngine.Settings("upmoe.streams.hop = 100ms"), Captioner());
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var live = hub.AddStream("live", FrameSources.VideoFile(TestVideos.Clips[2], 30, realtime: true), _ => first.TrySetResult());
        await first.Task.WaitAsync(Timeout);

        Assert.True(hub.RemoveStream("live"));
        await live.Completion.WaitAsync(Timeout);

        output.WriteLine(live.Stats.Snapshot().ToString());
        Assert.True(live.Stats.WindowsIn.Value < 22, "the stream should stop before the end of the clip");
        Assert.True(live.Stats.Balanced);
        Assert.DoesNotContain(live, hub.Streams);
        Assert.False(hub.RemoveStream("live"));
    }

    [Fact]
    public async Task Idle_stream_should_be_evicted_with_a_clear_error()
    {
        await using var hub = Hub(StreamEngine.Settings("upmoe.streams.idle-eviction = 300ms"), Captioner());
        var stalled = hub.AddStream("cam", FrameSources.RawRgb(new StallingStream(32 * 32 * 3), 32, 32, 30, name: "pipe:cam"), _ => { });

        var error = await Assert.ThrowsAsync<CaptionStreamException>(() => stalled.Completion.WaitAsync(Timeout));

        output.WriteLine(error.Message);
        Assert.IsType<StreamIdleException>(error.InnerException);
        Assert.Contains("pipe:cam", error.Message);
        Assert.DoesNotContain(stalled, hub.Streams);
    }

    /// <summary>Delivers <c>bytes</c> zero bytes, then blocks until cancelled (a feed that went quiet).</summary>
    private sealed class StallingStream(int bytes) : Stream
    {
        private int left = bytes;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (left == 0) await Task.Delay(System.Threading.Timeout.Infinite, cancellationToken);
            int n = Math.Min(left, buffer.Length);
            buffer.Span[..n].Clear();
            left -= n;
            return n;
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
