using UniPerceiverMoe.Streams.Settings;
using System.Collections.Concurrent;
using System.Threading.Channels;
using Akka.Streams;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Actors;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Streams.Flows;
using UniPerceiverMoe.Streams.Metrics;
using UniPerceiverMoe.Streams.Windows;

namespace UniPerceiverMoe.Streams.Batching;

/// <summary>
/// The cross-stream micro-batcher, batching by route. Streams submit tokenized windows from their own graphs, one
/// job per route tag; a bounded channel merges the jobs (writers wait when it is full) into one shared graph,
/// <see cref="EngineFlows.RunEach{T}"/> groups up to max-batch jobs or whatever arrived within max-delay, and each
/// group of equal tags becomes one engine forward under that tag: jobs of different tags never share a forward.
/// Windows in flight are bounded by streams × in-flight-per-stream; the channel holds at most max-batch jobs.
/// Every submitted window is settled exactly once (done, failed or dropped), whatever happens to its stream.
/// </summary>
public sealed class WindowBatcher : IAsyncDisposable
{
    private readonly Channel<WindowJob> jobs;
    private readonly ConcurrentDictionary<RouteTag, (Counter Forwards, Counter Windows)> byRoute = new();

    public WindowBatcher(IWindowEngine engine, StreamSettings settings, IMaterializer materializer)
    {
        jobs = Channel.CreateBounded<WindowJob>(new BoundedChannelOptions(settings.MaxBatch)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        });
        // A window settles as soon as its caption is final (early, while the rest of its batch decodes), or else when its
        // batch is done (unordered); settling twice is a no-op. A stream's own order is restored by its SelectAsync.
        Completion = ChannelSource.FromReader(jobs.Reader)
            .Via(EngineFlows.RunEach<WindowJob>((tag, clips, captioned, ct) => Count(tag, clips, engine.RunAsync(tag, clips, captioned, ct)),
                job => job.Window.Tag, job => job.Window.Pixels, settings.BatchesInFlight, settings.MaxBatch, settings.MaxDelay,
                ordered: false, skip: job => job.StreamStopped.IsCancellationRequested, early: r => r.Item.Settle(r.Result, r.Error)))
            .RunWith(Sink.ForEach<Ran<WindowJob>>(r => r.Item.Settle(r.Result, r.Error)), materializer);
    }

    /// <summary>Completes when the batcher's graph has stopped (after <see cref="DisposeAsync"/>).</summary>
    public Task Completion { get; }

    /// <summary>Engine forwards run so far and the windows they carried, by route tag (the batch composition).</summary>
    public IReadOnlyDictionary<RouteTag, (long Forwards, long Windows)> ForwardsByRoute() =>
        byRoute.ToDictionary(kv => kv.Key, kv => (kv.Value.Forwards.Value, kv.Value.Windows.Value));

    private Task<TaggedResult> Count(RouteTag tag, TorchSharp.torch.Tensor clips, Task<TaggedResult> forward)
    {
        var (forwards, windows) = byRoute.GetOrAdd(tag, _ => (new Counter(), new Counter()));
        forwards.Increment();
        windows.Add(clips.size(0));
        return forward;
    }

    /// <summary>Hands <paramref name="window"/> (and its tagged pixels) to the batcher and returns how it ended. Never
    /// throws: a batcher that is shutting down or a stream that stops while waiting for room drops the window.</summary>
    public async Task<WindowOutcome> SubmitAsync(TokenizedWindow window, StreamStats stats, CancellationToken streamStopped)
    {
        var ticket = new WindowTicket(window.Window, window.Tagged.Count, stats);
        foreach (var tagged in window.Tagged)
        {
            var job = new WindowJob(tagged, ticket, streamStopped);
            try
            {
                await jobs.Writer.WriteAsync(job, streamStopped).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
            {
                job.Settle(null, null);
            }
        }
        return await ticket.Outcome.ConfigureAwait(false);
    }

    /// <summary>Stops accepting windows, lets the queued ones run, and waits for the graph to stop.</summary>
    public async ValueTask DisposeAsync()
    {
        jobs.Writer.TryComplete();
        await Completion.ConfigureAwait(false);
    }
}
