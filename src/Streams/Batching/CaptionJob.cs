using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Streams.Metrics;
using UniPerceiverMoe.Streams.Windows;

namespace UniPerceiverMoe.Streams.Batching;

/// <summary>How a window submitted to the batcher ended: exactly one of a caption, an error, or a drop.</summary>
public sealed record WindowOutcome(FrameWindow Window, EngineCaption? Result, Exception? Error)
{
    public bool Captioned => Result is not null;
    public bool Dropped => Result is null && Error is null;
}

/// <summary>
/// One window between submission and its outcome. Owns the window's pixels from submission on; <see cref="Settle"/>
/// runs once (later calls are ignored): it disposes the pixels, counts the outcome in the stream's stats, releases
/// the stream's in-flight slot and completes <see cref="Outcome"/>.
/// </summary>
internal sealed class CaptionJob
{
    private readonly TaskCompletionSource<WindowOutcome> outcome = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int settled;

    public CaptionJob(TaggedWindow window, StreamStats stats, CancellationToken streamStopped)
    {
        Window = window;
        Stats = stats;
        StreamStopped = streamStopped;
        stats.EnterFlight();
    }

    public TaggedWindow Window { get; }
    public StreamStats Stats { get; }

    /// <summary>Cancelled once the owning stream has stopped: a job not yet started is dropped, not captioned.</summary>
    public CancellationToken StreamStopped { get; }

    public Task<WindowOutcome> Outcome => outcome.Task;

    public void Settle(EngineCaption? result, Exception? error)
    {
        if (Interlocked.Exchange(ref settled, 1) != 0) return;
        Window.Dispose();
        if (result is not null) Stats.Captioned.Increment();
        else if (error is not null) Stats.RecordFailure(error);
        else Stats.Dropped.Increment();
        Stats.LeaveFlight();
        outcome.SetResult(new WindowOutcome(Window.Window, result, error));
    }
}
