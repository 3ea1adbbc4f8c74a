using System.Globalization;

namespace UniPerceiverMoe.Actors.Diagnostics;

/// <summary>
/// CPU time and resident memory of a process (benchmarks: the hop, the cluster). CPU time a process has used so far (user + system, all threads), from <c>/proc/PID/stat</c> (Linux). Ticks are
/// USER_HZ (100 on Linux), so a measurement needs many events to be precise: benchmarks divide a delta over
/// thousands of hops.
/// </summary>
public static class ProcessCpu
{
    private const double TicksPerSecond = 100;

    /// <summary>utime + stime of <paramref name="pid"/> (0: this process), in seconds.</summary>
    public static double Seconds(int pid = 0)
    {
        string stat = File.ReadAllText(pid == 0 ? "/proc/self/stat" : $"/proc/{pid}/stat");
        // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
        long utime = long.Parse(fields[11], CultureInfo.InvariantCulture), stime = long.Parse(fields[12], CultureInfo.InvariantCulture);
        return (utime + stime) / TicksPerSecond;
    }

    /// <summary>CPU seconds of each thread of <paramref name="pid"/> (0: this process), keyed "pid/tid name".</summary>
    public static Dictionary<string, double> Threads(int pid = 0)
    {
        string root = pid == 0 ? "/proc/self/task" : $"/proc/{pid}/task";
        string owner = pid == 0 ? Environment.ProcessId.ToString(CultureInfo.InvariantCulture) : pid.ToString(CultureInfo.InvariantCulture);
        var threads = new Dictionary<string, double>();
        foreach (var dir in Directory.EnumerateDirectories(root))
        {
            try
            {
                string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                int open = stat.IndexOf('('), close = stat.LastIndexOf(')');
                var fields = stat[(close + 2)..].Split(' ');
                double seconds = (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / TicksPerSecond;
                threads[$"{owner}/{Path.GetFileName(dir)} {stat[(open + 1)..close]}"] = seconds;
            }
            catch (IOException)
            {
                // the thread ended between the listing and the read
            }
        }
        return threads;
    }

    /// <summary>Resident memory of <paramref name="pid"/> (0: this process) in bytes, from VmRSS; 0 where /proc is absent.</summary>
    public static long ResidentBytes(int pid = 0) => StatusBytes("VmRSS:", pid);

    /// <summary>The part of <see cref="ResidentBytes"/> that maps files (code and data of loaded libraries and
    /// assemblies, memory-mapped files), from RssFile; the rest is anonymous memory (heaps, tensors) and shared memory.</summary>
    public static long ResidentFileBytes(int pid = 0) => StatusBytes("RssFile:", pid);

    private static long StatusBytes(string field, int pid)
    {
        string status = pid == 0 ? "/proc/self/status" : $"/proc/{pid}/status";
        if (!File.Exists(status)) return 0;
        var line = File.ReadLines(status).FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>CPU seconds of each JIT background (tiering) thread of the given processes (0: this process), keyed as
    /// <see cref="Threads"/>. The runtime retires an idle tiering thread and starts another, so compare snapshots with
    /// <see cref="JitSeconds"/>.</summary>
    public static Dictionary<string, double> JitThreads(params int[] pids) =>
        pids.SelectMany(pid => Threads(pid)).Where(t => t.Key.EndsWith(".NET Tiered Com", StringComparison.Ordinal)).ToDictionary();

    /// <summary>JIT CPU between two <see cref="JitThreads"/> snapshots: threads that ended in between count for nothing,
    /// so the figure may be low, never negative.</summary>
    public static double JitSeconds(Dictionary<string, double> before, Dictionary<string, double> after) =>
        after.Sum(t => t.Value - before.GetValueOrDefault(t.Key));
}
