using Akka.Streams;
using UniPerceiverMoe.Streams.Metrics;
using UniPerceiverMoe.Streams.Sources;
using UniPerceiverMoe.Streams.Tasks;

namespace UniPerceiverMoe.Streams.Hub;

/// <summary>A running stream of a <see cref="CaptionStreamHub"/> (captioning, classifying or watching its windows): its measurements, a way to stop it, and
/// its completion.</summary>
public sealed class CaptionStream
{
    private readonly CancellationTokenSource stopped = new();
    private readonly TaskCompletionSource completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private UniqueKillSwitch? killSwitch;

    internal CaptionStream(string id, FrameSource source, StreamTasks tasks)
    {
        Id = id;
        Source = source;
        Tasks = tasks;
    }

    public string Id { get; }
    public FrameSource Source { get; }
    /// <summary>What the stream does with each window (caption, classify, watch).</summary>
    public StreamTasks Tasks { get; }
    public StreamStats Stats { get; } = new();

    /// <summary>Cancelled when the stream's graph has stopped: windows still waiting at the batcher are dropped.</summary>
    internal CancellationToken StreamStopped => stopped.Token;

    /// <summary>Completes when the stream has ended (input finished, or <see cref="Stop"/>) and every window it
    /// submitted is settled, so <see cref="StreamStats.Balanced"/> holds; faults with a
    /// <see cref="CaptionStreamException"/> naming the input when the stream failed or was evicted as idle.</summary>
    public Task Completion => completion.Task;

    /// <summary>Stops the stream: reading stops, buffered windows are dropped (counted), windows already submitted
    /// finish and their captions are still emitted.</summary>
    public void Stop() => killSwitch?.Shutdown();

    internal void Run(UniqueKillSwitch graphSwitch, Task sinkDone, Action onEnded)
    {
        killSwitch = graphSwitch;
        _ = WatchAsync(sinkDone, onEnded);
    }

    private async Task WatchAsync(Task sinkDone, Action onEnded)
    {
        Exception? error = null;
        try
        {
            await sinkDone.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            error = CaptionStreamException.Wrap(Id, Source.Name, e);
        }
        stopped.Cancel();
        await Stats.WhenNoneInFlight().ConfigureAwait(false);
        onEnded();
        if (error is null) completion.TrySetResult();
        else completion.TrySetException(error);
    }
}
