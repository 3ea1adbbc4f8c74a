using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Streams.Metrics;
using UniPerceiverMoe.Streams.Windows;

namespace UniPerceiverMoe.Streams.Batching;

/// <summary>What one tagged forward gave a window: its caption (caption tags) or its normalised features (feature tags).</summary>
public sealed record WindowResult(RouteTag Tag, EngineCaption? Caption, float[]? Features);

/// <summary>How a window submitted to the batcher ended: exactly one of done (a result for every tag it was tokenized
/// with), failed (<see cref="Error"/>: the first failed tag's), or dropped.</summary>
public sealed record WindowOutcome(FrameWindow Window, IReadOnlyDictionary<RouteTag, WindowResult> Results, Exception? Error)
{
    public bool Done => Error is null && Results.Count > 0;
    public bool Dropped => Error is null && Results.Count == 0;

    /// <summary>The caption of a done window tokenized for captioning; null otherwise.</summary>
    public EngineCaption? Caption => Results.Values.FirstOrDefault(r => r.Caption is not null)?.Caption;

    /// <summary>The features a done window got under <paramref name="tag"/>.</summary>
    public float[] FeaturesOf(RouteTag tag) => Results.TryGetValue(tag, out var r) && r.Features is { } f ? f
        : throw new InvalidOperationException($"window {Window.Sequence} of stream {Window.StreamId} has no features for route {tag}");
}

/// <summary>
/// A window between submission and its outcome: one <see cref="WindowJob"/> per route tag it was tokenized with.
/// The window is counted (done, dropped or failed, in the stream's stats) and leaves flight once, when its last job
/// settles, whatever happens to its stream meanwhile.
/// </summary>
internal sealed class WindowTicket
{
    private readonly TaskCompletionSource<WindowOutcome> outcome = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Dictionary<RouteTag, WindowResult> results = [];
    private readonly FrameWindow window;
    private readonly StreamStats stats;
    private int pending;
    private bool dropped;
    private Exception? error;

    public WindowTicket(FrameWindow window, int jobs, StreamStats stats)
    {
        this.window = window;
        this.stats = stats;
        pending = jobs;
        stats.EnterFlight();
    }

    public Task<WindowOutcome> Outcome => outcome.Task;

    public void Settle(RouteTag tag, WindowResult? result, Exception? failure)
    {
        lock (results)
        {
            if (failure is not null) error ??= failure;
            else if (result is null) dropped = true;
            else results[tag] = result;
            if (--pending > 0) return;
        }
        WindowOutcome final;
        if (error is not null)
        {
            stats.RecordFailure(error);
            final = new WindowOutcome(window, new Dictionary<RouteTag, WindowResult>(), error);
        }
        else if (dropped)
        {
            stats.Dropped.Increment();
            final = new WindowOutcome(window, new Dictionary<RouteTag, WindowResult>(), null);
        }
        else
        {
            stats.Captioned.Increment();
            final = new WindowOutcome(window, results, null);
        }
        stats.LeaveFlight();
        outcome.SetResult(final);
    }
}

/// <summary>
/// One tagged part of a window at the batcher. Owns its <see cref="TaggedWindow"/> (and so its pixel handle) from
/// submission on; <see cref="Settle"/> runs once (later calls are ignored): it disposes the pixels and reports to the
/// window's ticket.
/// </summary>
internal sealed class WindowJob(TaggedWindow window, WindowTicket ticket, CancellationToken streamStopped)
{
    private int settled;

    public TaggedWindow Window { get; } = window;

    /// <summary>Cancelled once the owning stream has stopped: a job not yet started is dropped, not run.</summary>
    public CancellationToken StreamStopped { get; } = streamStopped;

    public void Settle(WindowResult? result, Exception? error)
    {
        if (Interlocked.Exchange(ref settled, 1) != 0) return;
        Window.Dispose();
        ticket.Settle(Window.Tag, result, error);
    }
}
