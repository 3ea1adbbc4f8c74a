using UniPerceiverMoe.Model.Preprocessing;

namespace UniPerceiverMoe.Model.Tests.Preprocessing;

/// <summary>A 2 s, 30 fps, 320x240 testsrc clip made once per test class.</summary>
public sealed class TestVideo : IDisposable
{
    public TempFolder Temp { get; } = new();
    public string Path { get; }

    public TestVideo()
    {
        Path = Temp.File("testsrc.mp4");
        PreprocessingFixtures.Ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=30", "-t", "2", "-pix_fmt", "yuv420p", Path);
    }

    public void Dispose() => Temp.Dispose();
}

[Collection("ffmpeg")]
public sealed class FfmpegVideoReaderSpecs(TestVideo video) : IClassFixture<TestVideo>
{
    [Fact]
    public async Task ProbeAsync_should_report_size_fps_and_frame_count()
    {
        var probe = await FfmpegVideoReader.ProbeAsync(video.Path);
        Assert.Equal((320, 240), (probe.Width, probe.Height));
        Assert.Equal(30.0, probe.Fps, 6);
        Assert.Equal(60L, probe.FrameCount);
    }

    [Fact]
    public async Task ReadFramesAsync_should_deliver_every_frame_as_rgb24()
    {
        var frames = await Collect(FfmpegVideoReader.ReadFramesAsync(video.Path));
        Assert.Equal(60, frames.Count);
        Assert.Equal(Enumerable.Range(0, 60), frames.Select(f => f.Index));
        Assert.All(frames, f => Assert.Equal(240 * 320 * 3, f.Rgb.Length));
        Assert.Equal(TimeSpan.FromSeconds(1), frames[30].Timestamp);
        Assert.NotEqual(frames[0].Rgb, frames[1].Rgb); // testsrc moves
    }

    [Fact]
    public async Task ReadFramesAsync_should_match_ffmpegs_own_png_of_a_frame()
    {
        var png = video.Temp.File("frame7.png");
        PreprocessingFixtures.Ffmpeg("-i", video.Path, "-vf", "select=eq(n\\,7)", "-frames:v", "1", "-sws_flags", "bilinear", png);
        var (expected, h, w) = ImageDecoder.DecodeRgb(png);
        var frame = (await Collect(FfmpegVideoReader.ReadFramesAsync(video.Path)))[7];
        Assert.Equal((h, w), (frame.Height, frame.Width));
        Assert.Equal(expected, frame.Rgb);
    }

    [Fact]
    public async Task ReadFramesAsync_should_apply_fps_and_scale_options()
    {
        var options = new FfmpegOptions { Fps = 10, Width = 160, Height = 120 };
        var frames = await Collect(FfmpegVideoReader.ReadFramesAsync(video.Path, options));
        Assert.Equal(20, frames.Count);
        Assert.All(frames, f => Assert.Equal((120, 160, 120 * 160 * 3), (f.Height, f.Width, f.Rgb.Length)));
        Assert.Equal(TimeSpan.FromSeconds(0.5), frames[5].Timestamp);
    }

    [Fact]
    public async Task ReadFramesAsync_should_stop_ffmpeg_when_the_consumer_stops_early()
    {
        int read = 0;
        await foreach (var _ in FfmpegVideoReader.ReadFramesAsync(video.Path))
            if (++read == 2) break;
        Assert.Equal(2, read);
        Assert.True(await NoFfmpegChildWithin(TimeSpan.FromSeconds(5)), "an ffmpeg child process is still running");
    }

    [Fact]
    public async Task ReadFramesAsync_should_throw_and_stop_ffmpeg_when_cancelled()
    {
        using var cts = new CancellationTokenSource();
        int read = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in FfmpegVideoReader.ReadFramesAsync(video.Path, cancellationToken: cts.Token))
                if (++read == 3) cts.Cancel();
        });
        Assert.Equal(3, read);
        Assert.True(await NoFfmpegChildWithin(TimeSpan.FromSeconds(5)), "an ffmpeg child process is still running");
    }

    [Fact]
    public async Task A_corrupt_file_should_fail_with_the_input_and_ffmpegs_reason()
    {
        var path = video.Temp.File("corrupt.mp4");
        var bytes = new byte[20_000];
        new Random(7).NextBytes(bytes);
        await File.WriteAllBytesAsync(path, bytes);
        var e = await Assert.ThrowsAsync<VideoDecodeException>(() => Collect(FfmpegVideoReader.ReadFramesAsync(path)));
        Assert.Contains(path, e.Message);
        Assert.Contains("ffprobe could not read it", e.Message);
        Assert.DoesNotContain("printed no reason", e.Message);
    }

    [Fact]
    public async Task An_empty_file_should_fail_saying_it_is_empty()
    {
        var path = video.Temp.File("empty.mp4");
        await File.WriteAllBytesAsync(path, []);
        var e = await Assert.ThrowsAsync<VideoDecodeException>(() => Collect(FfmpegVideoReader.ReadFramesAsync(path)));
        Assert.Contains(path, e.Message);
        Assert.Contains("empty (0 bytes)", e.Message);
    }

    [Fact]
    public async Task A_missing_ffmpeg_should_fail_saying_how_to_install_it()
    {
        var options = new FfmpegOptions { FfmpegPath = "/nonexistent/ffmpeg", FfprobePath = "/nonexistent/ffprobe" };
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => FfmpegVideoReader.ProbeAsync(video.Path, options));
        Assert.Contains("apt-get install -y ffmpeg", e.Message);
    }

    [Fact]
    public async Task A_missing_file_should_fail_with_file_not_found()
        => await Assert.ThrowsAsync<FileNotFoundException>(() => FfmpegVideoReader.ProbeAsync(video.Temp.File("nope.mp4")));

    internal static async Task<List<VideoFrame>> Collect(IAsyncEnumerable<VideoFrame> frames)
    {
        var list = new List<VideoFrame>();
        await foreach (var f in frames) list.Add(f);
        return list;
    }

    /// <summary>True once no live (non-zombie) ffmpeg process has this test process as its parent.</summary>
    private static async Task<bool> NoFfmpegChildWithin(TimeSpan limit)
    {
        int self = Environment.ProcessId;
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            bool any = false;
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                try
                {
                    var stat = File.ReadAllText(System.IO.Path.Combine(dir, "stat"));
                    // pid (comm) state ppid ...
                    int close = stat.LastIndexOf(')');
                    string comm = stat[(stat.IndexOf('(') + 1)..close];
                    var rest = stat[(close + 2)..].Split(' ');
                    if (comm == "ffmpeg" && rest[0] != "Z" && int.Parse(rest[1]) == self) any = true;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { }
            }
            if (!any) return true;
            if (DateTime.UtcNow > deadline) return false;
            await Task.Delay(50);
        }
    }
}
