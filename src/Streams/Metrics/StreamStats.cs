using UniPerceiverMoe.Actors;

namespace UniPerceiverMoe.Streams.Metrics;

/// <summary>
/// Per-stream measurements, updated by the stream's stages and the shared batcher from any thread.
/// Accounting invariant once a stream has stopped and its in-flight windows are settled:
/// <c>WindowsIn == Captioned (done) + Dropped + Failed</c> (every sampled window ends in exactly one of the three).
/// </summary>
public sealed class StreamStats
{
    private int buffered, maxBuffered, inFlight, maxInFlight;
    private string? lastError;
    private TaskCompletionSource? settledWaiter;

    /// <summary>Complete windows cut by the sampler.</summary>
    public Counter WindowsIn { get; } = new();
    /// <summary>Windows done: the engine ran every forward the stream's tasks need (a caption, features for classify
    /// and watch). The name predates the other tasks; JSON summaries call it "done".</summary>
    public Counter Captioned { get; } = new();
    /// <summary>Windows discarded on purpose: overload (buffer full), or the stream stopped before they ran.</summary>
    public Counter Dropped { get; } = new();
    /// <summary>Windows whose preprocessing or engine call failed.</summary>
    public Counter Failed { get; } = new();
    /// <summary>Captions handed to the stream's sink (fewer than <see cref="Captioned"/> when smoothing suppresses repeats).</summary>
    public Counter Emitted { get; } = new();
    /// <summary>Window ready (last frame arrived) to caption emitted.</summary>
    public LatencyHistogram Latency { get; } = new();

    /// <summary>Largest number of windows ever waiting in the stream's overload buffer (never above buffer-size).</summary>
    public int MaxBuffered => Volatile.Read(ref maxBuffered);
    /// <summary>Largest number of the stream's windows ever at the batcher or engine (never above in-flight-per-stream).</summary>
    public int MaxInFlight => Volatile.Read(ref maxInFlight);
    public int InFlight => Volatile.Read(ref inFlight);
    /// <summary>Windows waiting in the overload buffer now.</summary>
    public int Buffered => Volatile.Read(ref buffered);

    public bool Balanced => WindowsIn.Value == Captioned.Value + Dropped.Value + Failed.Value;

    internal void ObserveBuffered(int count)
    {
        Volatile.Write(ref buffered, count);
        RaiseMax(ref maxBuffered, count);
    }

    /// <summary>The last window failure's message (null when none failed).</summary>
    public string? LastError => Volatile.Read(ref lastError);

    internal void RecordFailure(Exception error)
    {
        Volatile.Write(ref lastError, error.Message);
        Failed.Increment();
    }

    internal void EnterFlight() => RaiseMax(ref maxInFlight, Interlocked.Increment(ref inFlight));

    internal void LeaveFlight()
    {
        if (Interlocked.Decrement(ref inFlight) == 0) Volatile.Read(ref settledWaiter)?.TrySetResult();
    }

    /// <summary>Completes once no window of the stream is at the batcher or engine. Call after the stream's graph
    /// has stopped (nothing enters flight any more).</summary>
    internal Task WhenNoneInFlight()
    {
        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref settledWaiter, waiter);
        if (InFlight == 0) waiter.TrySetResult();
        return waiter.Task;
    }

    public StreamStatsSnapshot Snapshot() => new(WindowsIn.Value, Captioned.Value, Dropped.Value, Failed.Value, Emitted.Value,
        MaxBuffered, MaxInFlight, Latency.PercentileMs(0.50), Latency.PercentileMs(0.99), Latency.MaxMs);

    private static void RaiseMax(ref int max, int value)
    {
        int seen;
        while (value > (seen = Volatile.Read(ref max)) && Interlocked.CompareExchange(ref max, value, seen) != seen) { }
    }
}

/// <summary>A point-in-time copy of <see cref="StreamStats"/>; latencies in milliseconds.</summary>
public sealed record StreamStatsSnapshot(long WindowsIn, long Captioned, long Dropped, long Failed, long Emitted,
    int MaxBuffered, int MaxInFlight, double P50Ms, double P99Ms, double MaxMs)
{
    public override string ToString() =>
        $"windows in {WindowsIn}, done {Captioned}, dropped {Dropped}, failed {Failed}, emitted {Emitted}; " +
        $"latency p50 {P50Ms:F0} ms, p99 {P99Ms:F0} ms, max {MaxMs:F0} ms; max buffered {MaxBuffered}, max in flight {MaxInFlight}";
}
