using System.Diagnostics;
using UniPerceiverMoe.Bench;

namespace UniPerceiverMoe.Host.Bench;

/// <summary>Interleaved timing of two contenders so drift on a shared 2-core machine hits both alike.</summary>
public static class BenchTiming
{
    /// <summary>Runs a then b, <paramref name="rounds"/> times after <paramref name="warmup"/> untimed rounds; returns
    /// the median seconds per call of each.</summary>
    public static (double A, double B) MedianInterleaved(Action a, Action b, int warmup, int rounds)
    {
        for (int i = 0; i < warmup; i++)
        {
            a();
            b();
        }
        var ta = new List<double>(rounds);
        var tb = new List<double>(rounds);
        for (int i = 0; i < rounds; i++)
        {
            ta.Add(Time(a));
            tb.Add(Time(b));
        }
        return (BenchStatistics.Median(ta), BenchStatistics.Median(tb));
    }

    public static double Time(Action action)
    {
        var start = Stopwatch.GetTimestamp();
        action();
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }
}
