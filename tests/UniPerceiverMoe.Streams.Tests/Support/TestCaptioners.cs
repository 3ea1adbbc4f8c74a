using System.Collections.Concurrent;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Streams.Batching;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Streams.Tests.Support;

/// <summary>Wraps a captioner: records every batch size and optionally makes each call slower by a fixed delay
/// (an engine that cannot keep up), or fail.</summary>
public sealed class InstrumentedCaptioner(IWindowCaptioner inner, TimeSpan delay = default, Func<int, Exception?>? failCall = null) : IWindowCaptioner
{
    private int calls;

    public ConcurrentQueue<int> BatchSizes { get; } = new();

    /// <summary>The longest call, injected delay included (milliseconds).</summary>
    public double MaxCallMs { get; private set; }

    public async Task<IReadOnlyList<EngineCaption>> CaptionAsync(Tensor clips, CancellationToken cancellation)
    {
        int call = Interlocked.Increment(ref calls);
        BatchSizes.Enqueue((int)clips.shape[0]);
        if (delay > TimeSpan.Zero) await Task.Delay(delay, cancellation);
        if (failCall?.Invoke(call) is { } error) throw error;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var results = await inner.CaptionAsync(clips, cancellation);
        var ms = delay.TotalMilliseconds + System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        lock (BatchSizes) MaxCallMs = Math.Max(MaxCallMs, ms);
        return results;
    }
}
