using UniPerceiverMoe.Actors.Engine;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Bench.Cluster;

/// <summary>
/// The cluster's and the embedded engine's throughput in alternating segments of the same closed-loop load, in the
/// order cluster, embedded, embedded, cluster, … (so a drift of the machine's speed during the run charges both alike),
/// and the ratio of the two medians. Two separate phases minutes apart measured ratios of 0.53 to 0.80 for one build
/// in four consecutive tiny runs on the shared 2-core machine, because its speed moves by 20–30 % within minutes;
/// segments a few seconds apart keep that drift out of the ratio. Both engines are warm before it starts.
/// </summary>
internal static class InterleavedComparison
{
    /// <summary>Segments per mode.</summary>
    public const int Segments = 4;

    /// <param name="Cluster">Requests per second of each cluster segment, in run order.</param>
    /// <param name="Embedded">The same for the embedded engine.</param>
    /// <param name="SegmentRequests">Requests per segment.</param>
    public sealed record Result(IReadOnlyList<double> Cluster, IReadOnlyList<double> Embedded, int SegmentRequests)
    {
        public double ClusterMedian => BenchStatistics.Median(Cluster);
        public double EmbeddedMedian => BenchStatistics.Median(Embedded);
        public double Ratio => ClusterMedian / EmbeddedMedian;
    }

    /// <summary>Requests per segment: a quarter of the measured requests, and at least four per request in flight.</summary>
    public static int SegmentRequests(int requests, int concurrency) => Math.Max(4 * concurrency, requests / 4);

    public static async Task<Result> RunAsync(UniPerceiverEngine cluster, UniPerceiverEngine embedded, Tensor image, int concurrency, int segmentRequests)
    {
        var clusterRates = new List<double>();
        var embeddedRates = new List<double>();
        for (int pair = 0; pair < Segments; pair++)
        {
            bool clusterFirst = pair % 2 == 0;   // C E | E C | C E | E C
            foreach (bool isCluster in clusterFirst ? new[] { true, false } : [false, true])
            {
                double rate = await RateAsync(isCluster ? cluster : embedded, image, concurrency, segmentRequests).ConfigureAwait(false);
                (isCluster ? clusterRates : embeddedRates).Add(rate);
            }
        }
        return new Result(clusterRates, embeddedRates, segmentRequests);
    }

    /// <summary>Completions per second between the segment's first completion and its last request's issue: the steady
    /// part, while every worker has a request in flight. The ramp-down after the last issue (workers finishing one by
    /// one, cores idle) would otherwise weigh on short segments: a MoE-B segment is ~30 requests of ~0.6 s each.</summary>
    private static async Task<double> RateAsync(UniPerceiverEngine engine, Tensor image, int concurrency, int requests)
    {
        var load = new BenchmarkLoad(engine, image, concurrency, requests);
        await load.Finished.ConfigureAwait(false);
        if (load.Failed > 0) throw new InvalidOperationException($"{load.Failed} of {requests} benchmark requests failed; last error: {load.LastError}");
        return SteadyRate(load.Timeline.ToArray());
    }

    /// <summary>Completions per second in (first completion, last issue] of a closed-loop load's (issued, completed)
    /// times; all completions over the whole span when that window holds none.</summary>
    internal static double SteadyRate(IReadOnlyList<(TimeSpan Issued, TimeSpan Completed)> timeline)
    {
        var from = timeline.Min(t => t.Completed);
        var to = timeline.Max(t => t.Issued);
        int steady = timeline.Count(t => t.Completed > from && t.Completed <= to);
        return steady > 0 && to > from ? steady / (to - from).TotalSeconds : timeline.Count / timeline.Max(t => t.Completed).TotalSeconds;
    }
}
