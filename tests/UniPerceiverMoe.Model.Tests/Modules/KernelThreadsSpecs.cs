using System.Runtime.InteropServices;
using UniPerceiverMoe.Model.Modules;
using Xunit;

namespace UniPerceiverMoe.Model.Tests.Modules;

/// <summary>
/// <see cref="KernelThreads"/>: every part of a job runs exactly once before <c>For</c> returns, under concurrent
/// callers (one owns the workers, the others run inline), nested calls and failures; idle workers that fell asleep
/// wake for the next job. The caller claims parts from the front and workers from the back (a worker's parts are the
/// ones it read ahead), and a read-ahead, even of memory freed since, changes nothing a job computes.
/// </summary>
public sealed class KernelThreadsSpecs
{
    [Fact]
    public void Every_part_should_run_exactly_once_before_For_returns()
    {
        for (int job = 0; job < 2000; job++)
        {
            int count = 1 + job % 5;
            var runs = new int[count];
            KernelThreads.For(count, p => Interlocked.Increment(ref runs[p]));
            Assert.All(runs, r => Assert.Equal(1, r));
        }
    }

    [Fact]
    public async Task Every_part_should_run_once_and_be_done_when_workers_are_preempted()
    {
        // Busy threads and yields inside parts make workers lose the CPU at any point, the way a loaded 2-core
        // machine does; a worker that resumes late must not touch the next job (it once ran a part twice).
        using var stop = new CancellationTokenSource();
        var busy = Enumerable.Range(0, 2).Select(_ => Task.Run(() => { while (!stop.IsCancellationRequested) Thread.SpinWait(50); })).ToArray();
        try
        {
            for (int job = 0; job < 5000; job++)
            {
                int count = 2 + job % 4;
                var runs = new int[count];
                var done = new bool[count];
                KernelThreads.For(count, p =>
                {
                    Interlocked.Increment(ref runs[p]);
                    if ((job + p) % 3 == 0) Thread.Yield();
                    Volatile.Write(ref done[p], true);
                });
                Assert.All(runs, r => Assert.Equal(1, r));
                Assert.All(done, Assert.True);
            }
        }
        finally
        {
            stop.Cancel();
            await Task.WhenAll(busy);
        }
    }

    [Fact]
    public async Task Concurrent_callers_should_each_get_all_their_parts()
    {
        var callers = Enumerable.Range(0, 8).Select(c => Task.Run(() =>
        {
            for (int job = 0; job < 500; job++)
            {
                var sums = new long[3];
                KernelThreads.For(3, p => sums[p] = Enumerable.Range(0, 100 + p).Sum(i => (long)i * c));
                for (int p = 0; p < 3; p++) Assert.Equal(Enumerable.Range(0, 100 + p).Sum(i => (long)i * c), sums[p]);
            }
        }));
        await Task.WhenAll(callers);
    }

    [Fact]
    public void A_nested_call_should_run_inline_without_deadlock()
    {
        var inner = new int[4];
        KernelThreads.For(2, p => KernelThreads.For(2, q => Interlocked.Increment(ref inner[p * 2 + q])));
        Assert.All(inner, r => Assert.Equal(1, r));
    }

    [Fact]
    public void A_failing_part_should_surface_and_leave_the_workers_usable()
    {
        var error = Assert.Throws<AggregateException>(() => KernelThreads.For(2, p => { if (p == 1) throw new InvalidOperationException("part 1"); }));
        Assert.Equal("part 1", error.InnerException!.Message);
        var runs = new int[2];
        KernelThreads.For(2, p => Interlocked.Increment(ref runs[p]));
        Assert.All(runs, r => Assert.Equal(1, r));
    }

    [Fact]
    public void Workers_asleep_past_their_spin_window_should_wake_for_the_next_job()
    {
        for (int round = 0; round < 5; round++)
        {
            Thread.Sleep(KernelThreads.SpinWindow * 20);
            var runs = new int[2];
            KernelThreads.For(2, p => Interlocked.Increment(ref runs[p]));
            Assert.All(runs, r => Assert.Equal(1, r));
        }
    }

    [Fact]
    public void The_caller_should_claim_parts_from_the_front_and_workers_from_the_back()
    {
        for (int job = 0; job < 2000; job++)
        {
            int count = 2 + job % 7;
            var byCaller = new bool[count];
            var runs = new int[count];
            int caller = Environment.CurrentManagedThreadId;
            KernelThreads.For(count, p =>
            {
                Interlocked.Increment(ref runs[p]);
                byCaller[p] = Environment.CurrentManagedThreadId == caller;
            });
            Assert.All(runs, r => Assert.Equal(1, r));
            // The caller's parts are a prefix 0 … f − 1 and every other part came from the back: no gaps.
            int front = Array.IndexOf(byCaller, false);
            if (front >= 0) Assert.All(byCaller[front..], Assert.False);
        }
    }

    [Fact]
    public unsafe void A_read_ahead_of_freed_memory_should_change_nothing()
    {
        const long bytes = 4L << 20;
        KernelThreads.For(2, _ => { });                     // the workers exist, so the hint is handed over
        var previous = KernelThreads.Pin(2);                 // a caller that splits its calls (specs run one torch thread)
        try
        {
            for (int round = 0; round < 50; round++)
            {
                var buffer = NativeMemory.Alloc((nuint)bytes);
                KernelThreads.ReadAhead((nint)buffer, bytes);
                NativeMemory.Free(buffer);   // prefetching it now must not fault
                Thread.SpinWait(1000);
                var sums = new long[3];
                KernelThreads.For(3, p => sums[p] = Enumerable.Range(0, 1000 + p).Sum(i => (long)i));
                for (int p = 0; p < 3; p++) Assert.Equal(Enumerable.Range(0, 1000 + p).Sum(i => (long)i), sums[p]);
            }
        }
        finally
        {
            KernelThreads.Pin(previous);
        }
    }
}
