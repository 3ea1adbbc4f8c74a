using UniPerceiverMoe.Actors.Diagnostics;

namespace UniPerceiverMoe.Bench.Cluster;

/// <summary>The highest resident memory of this process sampled every <see cref="Period"/> from creation until
/// disposal (a sample, so a spike shorter than the period can be missed).</summary>
internal sealed class ResidentPeak : IDisposable
{
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(100);
    private readonly Timer timer;
    private long peak;

    public ResidentPeak()
    {
        Sample();
        timer = new Timer(_ => Sample(), null, Period, Period);
    }

    public long Peak
    {
        get
        {
            Sample();
            return Interlocked.Read(ref peak);
        }
    }

    private void Sample()
    {
        long now = ProcessCpu.ResidentBytes();
        long seen;
        while (now > (seen = Interlocked.Read(ref peak)) && Interlocked.CompareExchange(ref peak, now, seen) != seen) { }
    }

    public void Dispose() => timer.Dispose();
}
