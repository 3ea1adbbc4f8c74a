using UniPerceiverMoe.Actors.Settings;
using Akka.Configuration;

namespace UniPerceiverMoe.Actors.Dispatch;

/// <summary>
/// When <see cref="ExpertGroupClient"/> asks a second replica while the first has not answered (upmoe.engine.hedge):
/// after clamp(<see cref="P99Factor"/> × the group's observed p99, <see cref="MinDelay"/>, <see cref="MaxDelay"/>),
/// and after <see cref="MaxDelay"/> until <see cref="MinSamples"/> answers have been seen. The first
/// <see cref="WarmUp"/> answers of a group are not counted: they include loading its weights, and one such sample
/// would hold the p99 (and so the delay) at the ceiling for the whole window. A hung replica (SIGSTOP, a stalled link)
/// then costs a request at most MaxDelay more than its normal latency instead of the attempt timeout.
/// </summary>
public sealed record HedgePolicy(double P99Factor, TimeSpan MinDelay, TimeSpan MaxDelay, int Window, int MinSamples, int WarmUp = 0)
{
    /// <summary>The policy of an <c>upmoe.engine.hedge</c> section; null when <c>enabled = off</c>.</summary>
    public static HedgePolicy? FromConfig(Config c)
    {
        if (!c.ReadBoolean("enabled")) return null;
        var p = new HedgePolicy(c.ReadDouble("p99-factor"), c.ReadTimeSpan("min-delay"), c.ReadTimeSpan("max-delay"),
            c.ReadInt("window"), c.ReadInt("min-samples"), c.ReadInt("warm-up"));
        if (p.P99Factor < 1) throw new ConfigurationException($"upmoe.engine.hedge.p99-factor must be >= 1 (got {p.P99Factor}).");
        if (p.MinDelay <= TimeSpan.Zero || p.MaxDelay < p.MinDelay)
            throw new ConfigurationException("upmoe.engine.hedge.min-delay must be positive and <= max-delay.");
        if (p.Window < 10) throw new ConfigurationException($"upmoe.engine.hedge.window must be >= 10 (got {p.Window}).");
        if (p.MinSamples < 1 || p.MinSamples > p.Window)
            throw new ConfigurationException($"upmoe.engine.hedge.min-samples must be in 1..window (got {p.MinSamples}).");
        if (p.WarmUp < 0) throw new ConfigurationException($"upmoe.engine.hedge.warm-up must be >= 0 (got {p.WarmUp}).");
        return p;
    }

    /// <summary>A latency window for one group under this policy.</summary>
    public LatencyWindow NewWindow() => new(Window, WarmUp);

    /// <summary>The delay for a group whose recent latencies are <paramref name="latencies"/>.</summary>
    public TimeSpan Delay(LatencyWindow latencies) =>
        latencies.Count < MinSamples ? MaxDelay
        : TimeSpan.FromTicks(Math.Clamp((long)(latencies.P99().Ticks * P99Factor), MinDelay.Ticks, MaxDelay.Ticks));
}

/// <summary>The last <c>capacity</c> answer latencies of one group (a ring), after the first <c>warmUp</c> ones, which
/// are ignored, and their 99th percentile. Thread-safe.</summary>
public sealed class LatencyWindow(int capacity, int warmUp = 0)
{
    private readonly long[] ticks = new long[capacity];
    private int skipped;
    private int next, count, sinceSorted = int.MaxValue;
    private TimeSpan p99;

    public int Count
    {
        get { lock (ticks) return count; }
    }

    public void Add(TimeSpan latency)
    {
        lock (ticks)
        {
            if (skipped < warmUp)
            {
                skipped++;
                return;
            }
            ticks[next] = latency.Ticks;
            next = (next + 1) % ticks.Length;
            count = Math.Min(count + 1, ticks.Length);
            if (sinceSorted != int.MaxValue) sinceSorted++;
        }
    }

    /// <summary>Nearest-rank p99, recomputed after every 1/16 of the window's new samples (so a call is cheap).</summary>
    public TimeSpan P99()
    {
        lock (ticks)
        {
            if (count == 0) return TimeSpan.Zero;
            if (sinceSorted < Math.Max(1, ticks.Length / 16)) return p99;
            var sorted = ticks.AsSpan(0, count).ToArray();
            Array.Sort(sorted);
            p99 = TimeSpan.FromTicks(sorted[Math.Min(count - 1, (int)Math.Ceiling(0.99 * count) - 1)]);
            sinceSorted = 0;
            return p99;
        }
    }
}
