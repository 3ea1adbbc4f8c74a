namespace UniPerceiverMoe.Actors.Memory;

/// <summary>
/// Gives the C heap's free pages back to the OS when the engine goes idle. libtorch allocates activations with
/// malloc, from one glibc arena per thread; what a request frees stays resident in those arenas as free chunks
/// (measured on a MoE-B frontend: 100–140 MB after a few dozen requests, never returned by free alone). While
/// requests are in flight that memory is reused, so trimming then would only add page faults; once the last request
/// in flight finishes, a trim is queued on the thread pool (never on the request's thread, through <c>time</c>'s timers) and runs if the engine is
/// still idle, at most once per <c>minInterval</c> (a trim walks every arena: 10–20 ms on MoE-B). An idle moment
/// that falls inside the interval is trimmed when the interval ends, if the engine is idle then.
/// </summary>
public sealed class IdleHeapTrimmer
{
    private readonly TimeSpan minInterval;
    private readonly Func<bool> trim;
    private readonly Counter trims;
    private readonly TimeProvider time;
    private int inFlight;
    private readonly object gate = new();
    private bool scheduled;           // a trim is queued, or waits for the interval to end (under gate)
    private ITimer? timer;            // the queued trim (held: an unreferenced timer may be collected before it fires)
    private long lastTrim = long.MinValue;
    private bool available = true;
    private bool workSinceTrim;

    /// <param name="minInterval">Least time between two trims; zero or less disables trimming.</param>
    /// <param name="trim">The trim itself (<see cref="NativeHeap.Trim"/>); false when it is not available here, which
    /// stops further attempts.</param>
    /// <param name="trims">Counts the trims made.</param>
    public IdleHeapTrimmer(TimeSpan minInterval, Func<bool> trim, Counter trims, TimeProvider? time = null)
    {
        this.minInterval = minInterval;
        this.trim = trim;
        this.trims = trims;
        this.time = time ?? TimeProvider.System;
    }

    private bool Enabled => minInterval > TimeSpan.Zero;

    /// <summary>A request started (the engine is busy until a matching <see cref="Finished"/>).</summary>
    public void Started()
    {
        if (!Enabled) return;
        Interlocked.Increment(ref inFlight);
        Volatile.Write(ref workSinceTrim, true);
    }

    /// <summary>A request finished, successfully or not; the last one in flight queues a trim.</summary>
    public void Finished()
    {
        if (!Enabled) return;
        if (Interlocked.Decrement(ref inFlight) == 0) Schedule(TimeSpan.Zero);
    }

    private void Schedule(TimeSpan delay)
    {
        lock (gate)
        {
            if (scheduled) return;   // the queued trim covers this idle moment too
            scheduled = true;
            timer?.Dispose();
            timer = time.CreateTimer(_ => Run(), null, delay, Timeout.InfiniteTimeSpan);   // fires on the thread pool
        }
    }

    private void Run()
    {
        var wait = TimeSpan.Zero;
        lock (gate)
        {
            scheduled = false;
            if (Volatile.Read(ref inFlight) != 0 || !Volatile.Read(ref workSinceTrim)) return;   // busy again (its end queues another), or nothing freed since
            long now = time.GetTimestamp();
            var since = lastTrim == long.MinValue ? minInterval : time.GetElapsedTime(lastTrim, now);
            if (since < minInterval) wait = minInterval - since;
            else if (available)
            {
                Volatile.Write(ref workSinceTrim, false);
                lastTrim = now;
                if (trim()) trims.Increment();
                else available = false;   // no malloc_trim here: never again
            }
        }
        if (wait > TimeSpan.Zero) Schedule(wait);
    }
}
