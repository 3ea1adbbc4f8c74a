using System.Threading.Channels;
using Akka;
using Akka.Streams.Dsl;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Streams.Batching;

/// <summary>The stages of the shared batcher graph.</summary>
internal static class BatchFlows
{
    /// <summary>Jobs from <paramref name="reader"/> grouped into batches of at most <paramref name="maxBatch"/>,
    /// a batch closing at most <paramref name="maxDelay"/> after it opened (stock GroupedWithin).</summary>
    public static Source<IEnumerable<CaptionJob>, NotUsed> Batches(ChannelReader<CaptionJob> reader, int maxBatch, TimeSpan maxDelay) =>
        ChannelSource.FromReader(reader).GroupedWithin(maxBatch, maxDelay);

    /// <summary>Runs one batch: jobs whose stream stopped are dropped, the rest are captioned in one call per
    /// (route attribute, clip shape) group. Never throws; every job is settled.</summary>
    public static async Task RunAsync(IWindowCaptioner captioner, IEnumerable<CaptionJob> batch)
    {
        var live = new List<CaptionJob>();
        foreach (var job in batch)
        {
            if (job.StreamStopped.IsCancellationRequested) job.Settle(null, null);
            else live.Add(job);
        }
        foreach (var group in live.GroupBy(j => (j.Window.Attribute, Shape: string.Join("x", j.Window.Pixels.shape))))
            await RunGroupAsync(captioner, group.ToList()).ConfigureAwait(false);
    }

    private static async Task RunGroupAsync(IWindowCaptioner captioner, List<CaptionJob> jobs)
    {
        try
        {
            if (jobs[0].Window.Attribute != Model.Routing.MoeAttribute.CaptionVisual)
                throw new InvalidOperationException($"the caption batcher only runs caption windows (attribute {Model.Routing.MoeAttribute.CaptionVisual}), got {jobs[0].Window.Attribute}");
            // [B, T, 3, 224, 224]: a copy owned here; the jobs keep (and later dispose) their own pixels.
            using var clips = stack(jobs.Select(j => j.Window.Pixels), 0);
            var results = await captioner.CaptionAsync(clips, CancellationToken.None).ConfigureAwait(false);
            if (results.Count != jobs.Count)
                throw new InvalidOperationException($"the captioner returned {results.Count} results for {jobs.Count} clips");
            for (int i = 0; i < jobs.Count; i++) jobs[i].Settle(results[i], null);
        }
        catch (Exception e)
        {
            foreach (var job in jobs) job.Settle(null, e);
        }
    }
}
