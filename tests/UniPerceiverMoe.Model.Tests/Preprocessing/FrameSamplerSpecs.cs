using UniPerceiverMoe.Model.Preprocessing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Preprocessing;

public class FrameSamplerSpecs
{
    // Expected values computed with the reference formula in Python:
    // sample_pos = max(0, 1 + (total-1) - int(stride*fps/30*frames)); starts = np.linspace(0, sample_pos-1, clips, dtype=int)
    // ids = [int(i*stride*fps/30 + start) % total for i in range(frames)]

    [Fact]
    public void EvalIndices_should_take_frames_every_stride_from_zero_for_one_view()
        => Assert.Equal([0, 32, 64, 96], Single(FrameSampler.EvalIndices(300, 30, 4, 32)));

    [Fact]
    public void EvalIndices_should_scale_the_stride_by_fps_over_30_and_truncate()
        => Assert.Equal([0, 26, 53, 80], Single(FrameSampler.EvalIndices(250, 25, 4, 32)));

    [Fact]
    public void EvalIndices_should_wrap_around_short_videos()
        => Assert.Equal([0, 32, 14, 46], Single(FrameSampler.EvalIndices(50, 30, 4, 32)));

    [Fact]
    public void EvalIndices_should_spread_view_starts_with_linspace()
    {
        var clips = FrameSampler.EvalIndices(300, 30, 4, 32, numClips: 3);
        Assert.Equal([0, 32, 64, 96], clips[0]);
        Assert.Equal([85, 117, 149, 181], clips[1]); // linspace(0, 171, 3) = 0, 85.5, 171
        Assert.Equal([171, 203, 235, 267], clips[2]);
    }

    [Fact]
    public void EvalIndices_should_start_a_view_at_minus_one_when_the_video_is_too_short()
    {
        // sample_pos = 0 -> linspace(0, -1, 2) = [0, -1]; Python's % keeps the index in range.
        var clips = FrameSampler.EvalIndices(50, 30, 4, 32, numClips: 2);
        Assert.Equal([0, 32, 14, 46], clips[0]);
        Assert.Equal([49, 31, 13, 45], clips[1]);
    }

    [Fact]
    public void LinspaceInt_should_truncate_toward_zero_like_numpy_1_24()
        => Assert.Equal([0L, 0, -1], FrameSampler.LinspaceInt(0, -1, 3));

    [Fact]
    public void MultiViewClip_should_turn_k400_eval_into_32_frames_at_stride_8()
    {
        Assert.Equal((32, 8), FrameSampler.MultiViewClip(8, 32, 4));
        var (frames, stride) = FrameSampler.MultiViewClip(8, 32, 4);
        var clip = Single(FrameSampler.EvalIndices(300, 30, frames, stride));
        Assert.Equal(Enumerable.Range(0, 32).Select(i => i * 8).ToArray(), clip);
    }

    [Fact]
    public void ViewPositions_v2_should_interleave_and_v1_should_cut_chunks()
    {
        var v2 = FrameSampler.ViewPositions(32, 4, MultiViewMode.V2);
        Assert.Equal([1, 5, 9, 13, 17, 21, 25, 29], v2[1]);
        var v1 = FrameSampler.ViewPositions(32, 4, MultiViewMode.V1);
        Assert.Equal([8, 9, 10, 11, 12, 13, 14, 15], v1[1]);
    }

    [Theory]
    [InlineData(MultiViewMode.V1)]
    [InlineData(MultiViewMode.V2)]
    public void SplitViews_should_reshape_clips_like_the_reference_and_agree_with_ViewPositions(MultiViewMode mode)
    {
        // [N = 3 crops, L = 32 frames, 2 values per frame]: value = crop * 1000 + frame.
        using var video = TorchScalar.Use(1000L, k => TorchScalar.Arange(3, CPU).reshape(3, 1, 1).mul(k)).Plus(TorchScalar.Arange(32, CPU).reshape(1, 32, 1)).expand(3, 32, 2).contiguous();
        using var views = FrameSampler.SplitViews(video, 4, mode);
        Assert.Equal([12L, 8, 2], views.shape);
        var positions = FrameSampler.ViewPositions(32, 4, mode);
        for (int n = 0; n < 3; n++)
            for (int k = 0; k < 4; k++)
            {
                using var row = views[n * 4 + k, TensorIndex.Colon, 0];
                Assert.Equal(positions[k].Select(p => (long)(n * 1000 + p)).ToArray(), row.data<long>().ToArray());
            }
    }

    [Fact]
    public void SubstituteMissing_should_repeat_the_last_decoded_frame()
    {
        var resolved = FrameSampler.SubstituteMissing([0, 32, 64, 96], new HashSet<int> { 0, 32 });
        Assert.Equal([0, 32, 32, 32], resolved);
        Assert.Throws<InvalidDataException>(() => FrameSampler.SubstituteMissing([5], new HashSet<int>()));
    }

    private static int[] Single(int[][] clips) => Assert.Single(clips);
}
