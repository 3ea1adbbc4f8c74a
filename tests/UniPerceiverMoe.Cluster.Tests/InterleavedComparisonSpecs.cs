using UniPerceiverMoe.Bench;
using UniPerceiverMoe.Bench.Cluster;
using Xunit;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>
/// The arithmetic behind <c>bench cluster</c>'s final ratio (<see cref="InterleavedComparison"/>): a segment's rate is
/// taken over its steady part, so the ramp-down of a short closed-loop segment does not count, and the ratio is of the
/// two modes' medians.
/// </summary>
public sealed class InterleavedComparisonSpecs
{
    private static TimeSpan S(double seconds) => TimeSpan.FromSeconds(seconds);

    [Fact]
    public void A_segment_s_rate_should_leave_out_its_ramp_down()
    {
        // Two workers, one request each per second back to back, 8 requests: the last two are issued at 3 s and finish
        // at 4 s, but one worker then idles while a slow last request runs to 7 s.
        var timeline = new List<(TimeSpan, TimeSpan)>
        {
            (S(0), S(1)), (S(0), S(1)), (S(1), S(2)), (S(1), S(2)), (S(2), S(3)), (S(2), S(3)), (S(3), S(4)), (S(3), S(7)),
        };
        // Steady part (1 s, 3 s]: the four completions at 2 s and 3 s, over 2 s.
        Assert.Equal(2.0, InterleavedComparison.SteadyRate(timeline), 9);
        Assert.True(8 / 7.0 < InterleavedComparison.SteadyRate(timeline), "the whole span (8 in 7 s) would charge the tail");
    }

    [Fact]
    public void A_segment_without_a_steady_part_should_fall_back_to_its_whole_span()
    {
        var timeline = new List<(TimeSpan, TimeSpan)> { (S(0), S(2)), (S(0), S(4)) };
        Assert.Equal(0.5, InterleavedComparison.SteadyRate(timeline), 9);
    }

    [Fact]
    public void The_ratio_should_be_of_the_two_medians()
    {
        var result = new InterleavedComparison.Result([4, 1, 3, 100], [10, 2, 8, 6], 30);
        Assert.Equal(3.5, result.ClusterMedian, 9);
        Assert.Equal(7.0, result.EmbeddedMedian, 9);
        Assert.Equal(0.5, result.Ratio, 9);
        Assert.Equal(4.0, BenchStatistics.Median([5, 4, 1]), 9);
        Assert.Equal(40, InterleavedComparison.SegmentRequests(requests: 120, concurrency: 10));
        Assert.Equal(750, InterleavedComparison.SegmentRequests(requests: 3000, concurrency: 4));
    }
}
