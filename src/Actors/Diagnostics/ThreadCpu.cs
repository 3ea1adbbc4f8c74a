using System.Runtime.InteropServices;

namespace UniPerceiverMoe.Actors.Diagnostics;

/// <summary>
/// CPU time of the calling thread (user + system), from <c>clock_gettime(CLOCK_THREAD_CPUTIME_ID)</c> on Linux. Unlike a
/// stopwatch, it does not count the time a thread waits or is preempted: on a machine whose cores are shared (three
/// processes on two cores in <c>upmoe bench cluster</c>), wall time would charge one thread's work to another. Each
/// reading is a system call (about a microsecond): read it per request or per hop, never per tensor operation.
/// Elsewhere than Linux <see cref="IsSupported"/> is false and every reading is 0, so accumulated figures stay 0.
/// </summary>
public static class ThreadCpu
{
    private const int ClockThreadCpuTime = 3;   // CLOCK_THREAD_CPUTIME_ID

    public static bool IsSupported { get; } = OperatingSystem.IsLinux();

    /// <summary>Nanoseconds of CPU this thread has used so far (0 where unsupported).</summary>
    public static long Nanoseconds()
    {
        if (!IsSupported || ClockGetTime(ClockThreadCpuTime, out var now) != 0) return 0;
        return now.Seconds * 1_000_000_000 + now.Nanoseconds;
    }

    /// <summary>Microseconds of this thread's CPU since <paramref name="startedNanoseconds"/> (a <see cref="Nanoseconds"/> reading).</summary>
    public static long MicrosecondsSince(long startedNanoseconds) => (Nanoseconds() - startedNanoseconds) / 1000;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int ClockGetTime(int clock, out TimeSpec time);
}
