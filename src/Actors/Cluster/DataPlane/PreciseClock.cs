using System.Diagnostics;

namespace UniPerceiverMoe.Actors.Cluster.DataPlane;

/// <summary>
/// Monotonic milliseconds from the high-resolution clock, for request deadlines. <see cref="Environment.TickCount64"/>
/// reads a coarse clock on Linux (it advances in steps of a few milliseconds), so a deadline set from it could pass a
/// few milliseconds before the timeout had really elapsed; a 300 ms timeout once fired after 298.9 ms.
/// </summary>
internal static class PreciseClock
{
    private static readonly double TicksPerMillisecond = Stopwatch.Frequency / 1000.0;

    public static long Milliseconds => (long)(Stopwatch.GetTimestamp() / TicksPerMillisecond);
}
