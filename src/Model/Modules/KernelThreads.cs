using System.Diagnostics;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// Fork-join for the hand-written CPU kernels (<see cref="RowStreamingLinear"/>, <see cref="DecodeAttention"/>): the
/// caller and resident worker threads split one job's parts. A decode step makes about 60 such calls of 20–200 µs
/// each; <c>Parallel.For</c> wakes a thread-pool thread for every one (a futex wake and a sched_yield loop, 30–40 µs
/// on this 2-core VM, 10–20 % of the step in the profile in docs/benchmarks.md). Here a worker spins on a counter
/// for <see cref="SpinWindow"/> after its last part (pause instructions, no system calls), so the next call of the
/// same step finds it awake, and only then sleeps on a semaphore.
/// Invariants: one job runs at a time; a caller that finds the workers busy (another thread's job) runs all its
/// parts itself, so concurrent callers never wait on each other and results never depend on who ran a part. A part
/// is claimed exactly once, by a compare-and-swap on (job number, next part), so a worker that wakes late can never
/// run a part of a later job with an earlier job's body. The caller returns only when every part has finished.
/// Workers are background threads that run only the kernels' C# code (never libtorch).
/// </summary>
internal static class KernelThreads
{
    /// <summary>How long an idle worker keeps spinning before it sleeps.</summary>
    public static readonly TimeSpan SpinWindow = TimeSpan.FromMicroseconds(100);

    private static readonly long spinTicks = (long)(SpinWindow.TotalSeconds * Stopwatch.Frequency);
    private static readonly Lazy<Worker[]> workers = new(StartWorkers);
    private static int busy;                      // 1 while a job owns the workers
    private static long claim;                    // job number << 32 | next part to hand out
    private static int job;                       // the job number workers serve (low 32 bits of claim's high half)
    private static int parts;
    private static int finished;
    private static Action<int>? body;
    private static Exception? failure;

    /// <summary>Runs body(0) … body(count − 1), in parallel over the caller and up to <c>count − 1</c> workers.</summary>
    public static void For(int count, Action<int> part)
    {
        if (count <= 1 || Interlocked.CompareExchange(ref busy, 1, 0) != 0)
        {
            for (int p = 0; p < count; p++) part(p);
            return;
        }
        try
        {
            var pool = workers.Value;
            body = part;
            parts = count;
            failure = null;
            Volatile.Write(ref finished, 0);
            int number = job + 1;
            Volatile.Write(ref claim, (long)number << 32);
            Volatile.Write(ref job, number);                       // publishes body, parts and claim
            for (int w = 0; w < Math.Min(pool.Length, count - 1); w++) pool[w].Wake();
            RunParts(number);
            var spinner = new SpinWait();
            while (Volatile.Read(ref finished) < count) spinner.SpinOnce(sleep1Threshold: -1);
            body = null;
            if (failure is { } e) throw new AggregateException("a kernel part failed", e);
        }
        finally
        {
            Volatile.Write(ref busy, 0);
        }
    }

    /// <summary>Claims and runs parts of job <paramref name="number"/> until none are left.</summary>
    private static void RunParts(int number)
    {
        while (true)
        {
            long current = Volatile.Read(ref claim);
            if ((int)(current >> 32) != number) return;
            int p = (int)current;
            if (p >= parts) return;
            if (Interlocked.CompareExchange(ref claim, current + 1, current) != current) continue;
            try
            {
                body!(p);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref failure, e, null);
            }
            Interlocked.Increment(ref finished);
        }
    }

    private static Worker[] StartWorkers()
    {
        var pool = new Worker[Math.Max(0, Environment.ProcessorCount - 1)];
        for (int i = 0; i < pool.Length; i++) pool[i] = new Worker(i);
        return pool;
    }

    private sealed class Worker
    {
        private readonly SemaphoreSlim signal = new(0);
        private int sleeping;

        public Worker(int index)
        {
            new Thread(Loop) { IsBackground = true, Name = $"upmoe-kernel-{index}" }.Start();
        }

        /// <summary>Called after a job is published: a sleeping worker is released (a spinning one sees the job).</summary>
        public void Wake()
        {
            if (Interlocked.Exchange(ref sleeping, 0) == 1) signal.Release();
        }

        private void Loop()
        {
            int served = 0;
            while (true)
            {
                long spinUntil = Stopwatch.GetTimestamp() + spinTicks;
                while (Volatile.Read(ref job) == served && Stopwatch.GetTimestamp() < spinUntil) Thread.SpinWait(20);
                if (Volatile.Read(ref job) == served)
                {
                    Interlocked.Exchange(ref sleeping, 1);             // a full fence: the read of job below comes after it
                    // A job published between the check above and this line finds sleeping = 1 and releases us, or
                    // we see it here and take our own flag back (consuming the release if Wake already took it).
                    if (Volatile.Read(ref job) == served)
                        signal.Wait();
                    else if (Interlocked.Exchange(ref sleeping, 0) == 0)
                        signal.Wait();
                }
                served = Volatile.Read(ref job);
                RunParts(served);
            }
        }
    }
}
