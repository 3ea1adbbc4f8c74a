namespace UniPerceiverMoe.Actors.Memory;

/// <summary>
/// Gives the C heap's free pages back to the OS when the engine goes idle. libtorch allocates activations with
/// malloc, from one glibc arena per thread; what a request frees stays resident in those arenas as free chunks
/// (measured on a MoE-B frontend: 100–140 MB after a few dozen requests, never returned by free alone). While
/// requests keep coming that memory is reused, so trimming would only add page faults to the next request (a live
/// stream, one window a second, measured 40 ms more per window when the engine trimmed in every gap). So a trim waits
/// until the engine has stayed idle for <c>idleDelay</c> without a break, runs on the thread pool (never on a
/// request's thread, through <c>time</c>'s timers), and runs at most once per <c>minInterval</c> (a trim walks every
/// arena: 10–20 ms on MoE-B). An idle moment that falls inside the interval is trimmed when the interval ends, if the
/// engine is idle then.
/// </summary>
public sealed class IdleHeapTrimmer
{
    private readonly TimeSpan minInterval;
    private readonly TimeSpan idleDelay;
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
    private long idleSince;           // when the last request in flight finished (under gate)

    /// <param name="minInterval">Least time between two trims; zero or less disables trimming.</param>
    /// <param name="trim">The trim itself (<see cref="NativeHeap.Trim"/>); false when it is not available here, which
    /// stops further attempts.</param>
    /// <param name="trims">Counts the trims made.</param>
    /// <param name="idleDelay">How long the engine must stay idle, without a request in between, before it trims.</param>
    public IdleHeapTrimmer(TimeSpan minInterval, Func<bool> trim, Counter trims, TimeProvider? time = null, TimeSpan idleDelay = default)
    {
        if (idleDelay < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(idleDelay), idleDelay, "must be >= 0");
        this.minInterval = minInterval;
        this.idleDelay = idleDelay;
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
        if (Interlocked.Decrement(ref inFlight) != 0) return;
        lock (gate) idleSince = time.GetTimestamp();
        Schedule(idleDelay);
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
            var idle = time.GetElapsedTime(idleSince, now);
            if (idle < idleDelay) wait = idleDelay - idle;   // a request came and went since this was queued
            else if (since < minInterval) wait = minInterval - since;
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
