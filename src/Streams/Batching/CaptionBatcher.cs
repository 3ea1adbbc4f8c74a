using System.Threading.Channels;
using Akka;
using Akka.Streams;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Streams.Metrics;
using UniPerceiverMoe.Streams.Windows;

namespace UniPerceiverMoe.Streams.Batching;

/// <summary>
/// The cross-stream micro-batcher. Streams submit tagged windows from their own graphs; a bounded channel merges
/// them (writers wait when it is full) into one shared graph, <see cref="BatchFlows.Batches"/> groups up to
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
        Completion = BatchFlows.Batches(jobs.Reader, settings.MaxBatch, settings.MaxDelay)
            .SelectAsync(settings.BatchesInFlight, async batch =>
            {
                await BatchFlows.RunAsync(captioner, batch).ConfigureAwait(false);
                return NotUsed.Instance;
            })
            .RunWith(Sink.Ignore<NotUsed>(), materializer);
    }

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
