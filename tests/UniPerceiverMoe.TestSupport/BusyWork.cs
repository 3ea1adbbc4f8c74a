using System.Diagnostics;

namespace UniPerceiverMoe.TestSupport;

/// <summary>Work that keeps the calling thread on the CPU for a given wall time (specs of CPU-time accounting).</summary>
public static class BusyWork
{
    /// <summary>Computes until <paramref name="wall"/> has passed; returns a value so the loop cannot be dropped.</summary>
    public static double Spin(TimeSpan wall)
    {
        var clock = Stopwatch.StartNew();
        double sink = 1;
        while (clock.Elapsed < wall) sink = Math.Sqrt(sink + 1);
        return sink;
    }
}
