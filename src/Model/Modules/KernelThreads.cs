using System.Diagnostics;
using System.Runtime.Intrinsics.X86;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// Fork-join for the hand-written CPU kernels (<see cref="PanelLinear"/>, <see cref="RowStreamingLinear"/>, <see cref="DecodeAttention"/>): the
/// caller and resident worker threads split one job's parts. A decode step makes about 60 such calls of 20–200 µs
/// each; <c>Parallel.For</c> wakes a thread-pool thread for every one (a futex wake and a sched_yield loop, 30–40 µs
/// on this 2-core VM, 10–20 % of the step in the profile in docs/benchmarks.md). Here a worker spins on a counter
/// for <see cref="SpinWindow"/> after its last part (pause instructions, no system calls), so the next call of the
/// same step finds it awake, and only then sleeps on a semaphore.
/// Invariants: one job runs at a time; a caller that finds the workers busy (another thread's job) runs all its
/// parts itself, so concurrent callers never wait on each other and results never depend on who ran a part. Each job
/// is its own object with its own part and finish counters, so a worker that wakes late (still holding an earlier job)
/// can only find that job's parts all taken: it can never run a part of a later job, nor count one as finished.
/// (Shared counters, reset per job, let a late worker claim a part with the next job's body and count it as that
/// job's: a part ran twice, and For could return before the last part finished; KernelThreadsSpecs caught it.)
/// The caller returns only when every part has finished. Workers are background threads that run only the kernels'
/// C# code (never libtorch). Between jobs an idle worker may prefetch the next job's tail (<see cref="ReadAhead"/>);
/// that only moves lines into its caches, never claims a part, and stops when a job is published.
/// </summary>
internal static class KernelThreads
{
    /// <summary>How long an idle worker keeps spinning before it sleeps.</summary>
    public static readonly TimeSpan SpinWindow = TimeSpan.FromMicroseconds(100);

    private static readonly long spinTicks = (long)(SpinWindow.TotalSeconds * Stopwatch.Frequency);
    private static readonly Lazy<Worker[]> workers = new(StartWorkers);
    private static int busy;                      // 1 while a job owns the workers
    private static Job? current;                  // the job workers serve (written before `published`)
    private static int published;                 // current's number: what idle workers watch
    private static nint readAheadStart;           // a range for an idle worker to prefetch from its end (written
    private static long readAheadBytes;           // before readAheadNumber, read after it)
    private static int readAheadNumber;

    /// <summary>At most this many bytes from the end of a <see cref="ReadAhead"/> range are prefetched. Decodes
    /// interleaved with and without read-ahead gained 4–6 % at every limit from 1 to 12 MiB, and 1.5 MiB beat 3 head
    /// to head (docs/benchmarks.md, "Reading ahead"): a decode step's gaps are short, and a core's L2 holds 1 MB.</summary>
    private const long ReadAheadLimit = 3L << 19;

    /// <summary>How many threads a kernel call on this thread splits over: libtorch's intra-op thread count for this
    /// thread, at most one per core, unless <see cref="SerialTorchOps"/> pinned it while libtorch runs serially.</summary>
    public static int Parallelism => pinned ?? Math.Min(TorchSharp.torch.get_num_threads(), Environment.ProcessorCount);

    [ThreadStatic] private static int? pinned;

    /// <summary>Pins this thread's <see cref="Parallelism"/> (null: follow libtorch again); returns the previous pin.</summary>
    public static int? Pin(int? threads)
    {
        var previous = pinned;
        pinned = threads;
        return previous;
    }

    /// <summary>Runs <paramref name="range"/> over [0, units) in one contiguous block per thread of
    /// <see cref="Parallelism"/> (the caller takes the first, a worker the last: the one it read ahead,
    /// <see cref="ReadAhead"/>), or as one block on the caller when <paramref name="work"/> is below
    /// <paramref name="minWork"/> (a fork-join would cost more than it saves).</summary>
    public static void Blocks(int units, long work, long minWork, Action<int, int> range)
    {
        int threads = Parallelism;
        if (threads <= 1 || work < minWork)
        {
            range(0, units);
            return;
        }
        int block = (units + threads - 1) / threads;
        For(threads, part => range(Math.Min(units, part * block), Math.Min(units, (part + 1) * block)));
    }

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
            var job = new Job(published + 1, count, part);
            Volatile.Write(ref current, job);
            Volatile.Write(ref published, job.Number);
            for (int w = 0; w < Math.Min(pool.Length, count - 1); w++) pool[w].Wake();
            job.Run(fromFront: true);
            var spinner = new SpinWait();
            while (Volatile.Read(ref job.Finished) < count) spinner.SpinOnce(sleep1Threshold: -1);
            if (job.Failure is { } e) throw new AggregateException("a kernel part failed", e);
        }
        finally
        {
            Volatile.Write(ref busy, 0);
        }
    }

    /// <summary>
    /// Asks an idle worker to prefetch the last bytes of [start, start + bytes) (at most <see cref="ReadAheadLimit"/>),
    /// panel data the next call will split with <see cref="Blocks"/>: the worker claims that call's parts from the back,
    /// so it finds them in its own caches. It prefetches while the caller does the serial work between two calls (a
    /// decode step's LayerNorms, adds and attention), when memory would otherwise sit idle, and stops when the next job
    /// is published. Only a hint: a worker that is asleep, busy or elsewhere ignores it (no wake-up is paid for it), and
    /// prefetch instructions never fault, so a range freed meanwhile is harmless. A core gains nothing from lines
    /// another core fetched (on the development VM a read after the other core's was slower than from memory), which
    /// is why the worker reads ahead for itself and not for the caller.
    /// </summary>
    public static void ReadAhead(nint start, long bytes)
    {
        // A caller that runs its calls alone (Parallelism 1) never hands a worker the tail, so it asks for nothing.
        if (bytes <= 0 || !Sse.IsSupported || !workers.IsValueCreated || Parallelism <= 1) return;
        long take = Math.Min(bytes, ReadAheadLimit);
        Volatile.Write(ref readAheadStart, start + (nint)(bytes - take));
        Volatile.Write(ref readAheadBytes, take);
        Interlocked.Increment(ref readAheadNumber);
    }

    /// <summary>Prefetches the current read-ahead range from its end backwards, 4 KiB at a time, until it is done or
    /// job <paramref name="served"/> is no longer the latest.</summary>
    private static unsafe void Prefetch(int served)
    {
        var start = (byte*)Volatile.Read(ref readAheadStart);
        long bytes = Volatile.Read(ref readAheadBytes);
        for (long chunk = (bytes - 1) & ~4095L; chunk >= 0; chunk -= 4096)
        {
            if (Volatile.Read(ref published) != served) return;
            long end = Math.Min(chunk + 4096, bytes);
            for (long line = chunk; line < end; line += 64) Sse.Prefetch0(start + line);
        }
    }

    /// <summary>One call's parts: the caller claims them from the front (0, 1, …), workers from the back (parts − 1,
    /// parts − 2, …), so a worker's parts are the ones it read ahead. Each part is claimed exactly once: a claim
    /// shrinks the unclaimed interval [front, back] in one compare-and-swap of <see cref="unclaimed"/>. Each part is
    /// counted in <see cref="Finished"/> once it has run.</summary>
    private sealed class Job(int number, int parts, Action<int> body)
    {
        public readonly int Number = number;
        public int Finished;
        public Exception? Failure;
        private long unclaimed = (long)(parts - 1) << 32;   // back in the high half, front (0) in the low half

        /// <summary>Claims and runs this job's parts, from the front or from the back, until none are left.</summary>
        public void Run(bool fromFront)
        {
            while (Claim(fromFront) is int p)
            {
                try
                {
                    body(p);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref Failure, e, null);
                }
                Interlocked.Increment(ref Finished);
            }
        }

        private int? Claim(bool fromFront)
        {
            while (true)
            {
                long seen = Volatile.Read(ref unclaimed);
                int front = (int)seen, back = (int)(seen >> 32);
                if (front > back) return null;
                long next = fromFront ? (long)back << 32 | (uint)(front + 1) : (long)(back - 1) << 32 | (uint)front;
                if (Interlocked.CompareExchange(ref unclaimed, next, seen) == seen) return fromFront ? front : back;
            }
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
            int served = 0, readAhead = Volatile.Read(ref readAheadNumber);
            while (true)
            {
                long spinUntil = Stopwatch.GetTimestamp() + spinTicks;
                while (Volatile.Read(ref published) == served && Stopwatch.GetTimestamp() < spinUntil)
                {
                    int asked = Volatile.Read(ref readAheadNumber);
                    if (asked != readAhead)
                    {
                        readAhead = asked;
                        Prefetch(served);
                        spinUntil = Stopwatch.GetTimestamp() + spinTicks;   // the window counts from the last useful work
                        continue;
                    }
                    Thread.SpinWait(20);
                }
                if (Volatile.Read(ref published) == served)
                {
                    Interlocked.Exchange(ref sleeping, 1);             // a full fence: the read of published below comes after it
                    // A job published between the check above and this line finds sleeping = 1 and releases us, or
                    // we see it here and take our own flag back (consuming the release if Wake already took it).
                    if (Volatile.Read(ref published) == served)
                        signal.Wait();
                    else if (Interlocked.Exchange(ref sleeping, 0) == 0)
                        signal.Wait();
                }
                var job = Volatile.Read(ref current)!;
                served = job.Number;
                readAhead = Volatile.Read(ref readAheadNumber);   // a hint older than this job was for this job: stale
                job.Run(fromFront: false);
            }
        }
    }
}
