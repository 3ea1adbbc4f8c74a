using UniPerceiverMoe.Model.Preprocessing;
using UniPerceiverMoe.Streams.Windows;

namespace UniPerceiverMoe.Streams.Tests.Flows;

public class WindowSamplerSpecs
{
    private static List<FrameWindow> Feed(WindowSampler sampler, int frames, int firstIndex = 0, Action? afterEach = null)
    {
        var windows = new List<FrameWindow>();
        for (int i = firstIndex; i < firstIndex + frames; i++)
        {
            windows.AddRange(sampler.Push(new TimedFrame(new VideoFrame(i, TimeSpan.FromSeconds(i / 30.0), [], 0, 0), i)));
            afterEach?.Invoke();
        }
        return windows;
    }

    [Fact]
    public void Sampler_should_cut_windows_of_strided_frames_every_hop()
    {
        var windows = Feed(new WindowSampler("s", window: 4, strideFrames: 8, hopFrames: 30), 90);

        Assert.Equal([0L, 1L, 2L], windows.Select(w => w.Sequence));
        Assert.Equal([0, 8, 16, 24], windows[0].FrameIndices);
        Assert.Equal([30, 38, 46, 54], windows[1].FrameIndices);
        Assert.Equal([60, 68, 76, 84], windows[2].FrameIndices);
        Assert.Equal(24, windows[0].ReadyTicks); // the arrival of its last frame
    }

    [Fact]
    public void Sampler_should_keep_overlapping_windows_bounded_and_drop_incomplete_ones_at_the_end()
    {
        var sampler = new WindowSampler("s", window: 4, strideFrames: 8, hopFrames: 3);
        int maxOpen = 0;
        var windows = Feed(sampler, 90, firstIndex: 1000, afterEach: () => maxOpen = Math.Max(maxOpen, sampler.OpenWindows));

        // Starts 0, 3, ..., 63 fit (start + 24 <= 89); span 25 frames, hop 3 => at most ceil(25 / 3) = 9 open.
        Assert.Equal(22, windows.Count);
        Assert.Equal(Enumerable.Range(0, 22).Select(k => (long)k), windows.Select(w => w.Sequence));
        Assert.All(windows, w => Assert.Equal(w.FrameIndices.Select(i => i - 1000), Enumerable.Range(0, 4).Select(j => (int)w.Sequence * 3 + j * 8)));
        Assert.InRange(maxOpen, 1, 9);
    }

    [Fact]
    public void Sampler_should_reject_frames_that_are_not_consecutive()
    {
        var sampler = new WindowSampler("cam", 4, 8, 30);
        Feed(sampler, 5);
        var e = Assert.Throws<InvalidDataException>(() => sampler.Push(new TimedFrame(new VideoFrame(7, TimeSpan.Zero, [], 0, 0), 0)));
        Assert.Contains("stream cam", e.Message);
    }
}
