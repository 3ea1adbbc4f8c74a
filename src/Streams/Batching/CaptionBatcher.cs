using System.Threading.Channels;
using Akka.Streams;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Streams.Flows;
using UniPerceiverMoe.Streams.Metrics;
using UniPerceiverMoe.Streams.Windows;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Streams.Batching;

/// <summary>
/// The cross-stream micro-batcher. Streams submit tagged windows from their own graphs; a bounded channel merges
/// them (writers wait when it is full) into one shared graph, <see cref="EngineFlows.CaptionEach{T}"/> groups up to
/// max-batch windows or whatever arrived within max-delay, and each group becomes one engine call. Windows in
/// flight are bounded by streams × in-flight-per-stream; the channel holds at most max-batch of them.
/// Every submitted job is settled exactly once (captioned, failed or dropped), whatever happens to its stream.
/// </summary>
public sealed class CaptionBatcher : IAsyncDisposable
{
    private readonly Channel<CaptionJob> jobs;

    public CaptionBatcher(IWindowCaptioner captioner, StreamSettings settings, IMaterializer materializer)
    {
        jobs = Channel.CreateBounded<CaptionJob>(new BoundedChannelOptions(settings.MaxBatch)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
        // Batches settle as soon as they are done (unordered): a stream's own order is restored by its SelectAsync.
        Completion = ChannelSource.FromReader(jobs.Reader)
            .Via(EngineFlows.CaptionEach<CaptionJob>(captioner.CaptionAsync, CaptionPixels, settings.BatchesInFlight, settings.MaxBatch, settings.MaxDelay,
                ordered: false, skip: job => job.StreamStopped.IsCancellationRequested, partition: job => job.Window.Attribute))
            .RunWith(Sink.ForEach<Captioned<CaptionJob>>(c => c.Item.Settle(c.Caption, c.Error)), materializer);
    }

    /// <summary>A job's pixels; the batcher only runs caption windows.</summary>
    private static Tensor CaptionPixels(CaptionJob job) => job.Window.Attribute == MoeAttribute.CaptionVisual ? job.Window.Pixels
        : throw new InvalidOperationException($"the caption batcher only runs caption windows (attribute {MoeAttribute.CaptionVisual}), got {job.Window.Attribute}");

    /// <summary>Completes when the batcher's graph has stopped (after <see cref="DisposeAsync"/>).</summary>
    public Task Completion { get; }

    /// <summary>Hands <paramref name="window"/> (and its pixels) to the batcher and returns how it ended. Never
    /// throws: a batcher that is shutting down or a stream that stops while waiting for room drops the window.</summary>
    public async Task<WindowOutcome> SubmitAsync(TaggedWindow window, StreamStats stats, CancellationToken streamStopped)
    {
        var job = new CaptionJob(window, stats, streamStopped);
        try
        {
            await jobs.Writer.WriteAsync(job, streamStopped).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
        {
            job.Settle(null, null);
        }
        return await job.Outcome.ConfigureAwait(false);
    }

    /// <summary>Stops accepting windows, lets the queued ones run, and waits for the graph to stop.</summary>
    public async ValueTask DisposeAsync()
    {
        jobs.Writer.TryComplete();
        await Completion.ConfigureAwait(false);
    }
}
