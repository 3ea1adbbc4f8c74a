namespace UniPerceiverMoe.Streams.Metrics;

/// <summary>
/// A fixed-memory latency histogram for streams that run for ever: log-spaced buckets 2 % wide from 0.1 ms to
/// ~30 min (~850 counters), so a percentile is reported with at most 2 % relative error (its bucket's upper bound).
/// Thread-safe (a lock per record; a few records per second per stream).
/// </summary>
public sealed class LatencyHistogram
{
    private const double MinMs = 0.1, Growth = 1.02;
    private static readonly int Buckets = (int)Math.Ceiling(Math.Log(30 * 60 * 1000 / MinMs) / Math.Log(Growth)) + 1;
    private readonly long[] counts = new long[Buckets];
    private readonly object gate = new();
    private long total;
    private double maxMs;

    public long Count { get { lock (gate) return total; } }

    public double MaxMs { get { lock (gate) return maxMs; } }

    public void Record(TimeSpan latency)
    {
        double ms = Math.Max(0, latency.TotalMilliseconds);
        int b = ms <= MinMs ? 0 : Math.Min(Buckets - 1, (int)Math.Ceiling(Math.Log(ms / MinMs) / Math.Log(Growth)));
        lock (gate)
        {
            counts[b]++;
            total++;
            maxMs = Math.Max(maxMs, ms);
        }
    }

    /// <summary>The <paramref name="q"/>-quantile (0..1) in milliseconds: the upper bound of the bucket holding
    /// it, capped at the largest value seen; 0 when nothing was recorded.</summary>
    public double PercentileMs(double q)
    {
        lock (gate) return Percentile(counts, total, maxMs, q);
    }

    /// <summary>Adds another histogram's counts (for totals over many streams).</summary>
    public void Add(LatencyHistogram other)
    {
        long[] theirs;
        long theirTotal;
        double theirMax;
        lock (other.gate) { theirs = (long[])other.counts.Clone(); theirTotal = other.total; theirMax = other.maxMs; }
        lock (gate)
        {
            for (int i = 0; i < Buckets; i++) counts[i] += theirs[i];
            total += theirTotal;
            maxMs = Math.Max(maxMs, theirMax);
        }
    }

    private static double Percentile(long[] counts, long total, double max, double q)
    {
        if (total == 0) return 0;
        long rank = Math.Max(1, (long)Math.Ceiling(Math.Clamp(q, 0, 1) * total));
        long seen = 0;
        for (int b = 0; b < counts.Length; b++)
        {
            seen += counts[b];
            if (seen >= rank) return Math.Min(max, MinMs * Math.Pow(Growth, b));
        }
        return max;
    }
}
