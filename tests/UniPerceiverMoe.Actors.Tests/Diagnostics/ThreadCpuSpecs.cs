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
        Assert.InRange(slept, 0, 50_000);                       // a sleeping thread uses (almost) no CPU

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
        long started = ThreadCpu.Nanoseconds();
        var worker = new Thread(() => BusyWork.Spin(TimeSpan.FromMilliseconds(150)));
        worker.Start();
        worker.Join();
        Assert.InRange(ThreadCpu.MicrosecondsSince(started), 0, 50_000);
    }
}
