using UniPerceiverMoe.Actors.Diagnostics;
using UniPerceiverMoe.TestSupport;

namespace UniPerceiverMoe.Actors.Tests.Diagnostics;

/// <summary><see cref="ThreadCpu"/> counts the calling thread's CPU time: work, not waiting, and not other threads' work.
/// Synchronous on purpose: an await could resume on another thread and read another thread's clock.</summary>
public sealed class ThreadCpuSpecs
{
    [Fact]
    public void ThreadCpu_should_be_read_on_linux()
    {
        Assert.Equal(OperatingSystem.IsLinux(), ThreadCpu.IsSupported);
    }

    [Fact]
    public void ThreadCpu_should_count_this_threads_work_and_not_its_waiting()
    {
        if (!ThreadCpu.IsSupported)
        {
            Assert.Equal(0, ThreadCpu.Nanoseconds());          // documented: readings are 0 where unsupported
            return;
        }
        long started = ThreadCpu.Nanoseconds();
        Thread.Sleep(200);
        long slept = ThreadCpu.MicrosecondsSince(started);
        Assert.InRange(slept, 0, 100_000);                      // a sleeping thread uses (almost) no CPU: under half its sleep

        started = ThreadCpu.Nanoseconds();
        BusyWork.Spin(TimeSpan.FromMilliseconds(300));
        long worked = ThreadCpu.MicrosecondsSince(started);
        // A share of the wall time however loaded the machine (other specs run beside this one), and never more.
        Assert.InRange(worked, 20_000, 1_000_000);
    }

    [Fact]
    public void ThreadCpu_should_not_count_another_threads_work()
    {
        if (!ThreadCpu.IsSupported)
        {
            Assert.Equal(0, ThreadCpu.Nanoseconds());          // documented: readings are 0 where unsupported
            return;
        }
        // The worker spins until its own clock shows 400 ms of CPU, so the reading below cannot depend on how loaded the
        // machine is. The bound is half of that, not near zero: the caller may itself run a GC or JIT a thread start
        // while it waits (62 ms once in CI, with other test assemblies beside it), but a clock that counted the
        // process, or the worker, would read at least the worker's 400 ms.
        const long workerMicroseconds = 400_000;
        long workerUsed = 0;
        long started = ThreadCpu.Nanoseconds();
        var worker = new Thread(() =>
        {
            long own = ThreadCpu.Nanoseconds();
            while (ThreadCpu.MicrosecondsSince(own) < workerMicroseconds) BusyWork.Spin(TimeSpan.FromMilliseconds(1));
            workerUsed = ThreadCpu.MicrosecondsSince(own);
        });
        worker.Start();
        worker.Join();
        Assert.InRange(workerUsed, workerMicroseconds, long.MaxValue);
        Assert.InRange(ThreadCpu.MicrosecondsSince(started), 0, workerMicroseconds / 2);
    }
}
