using UniPerceiverMoe.Bench;
using UniPerceiverMoe.Model;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Host.Bench;

/// <summary>
/// This machine's roofs, measured through the same TorchSharp/libtorch paths the model uses, so a benchmark can
/// print its figures next to them in one run: STREAM-style memory bandwidth on buffers far larger than any cache,
/// and the fp32 GEMM rate of a [197×768]×[768×3072] product (one MoE-B FFN linear over an image's tokens).
/// </summary>
public static class MachineProbe
{
    /// <summary>Floats per STREAM buffer: 512 MiB each, far beyond any L3 (EPYC parts with stacked cache have up to 96 MiB per CCD).</summary>
    private const long BufferFloats = 128L << 20;

    /// <param name="CopyBytesPerSecond">b ← a, counted as 2 buffers of traffic (as STREAM counts it).</param>
    /// <param name="TriadBytesPerSecond">a ← a + s·b, counted as 3 buffers.</param>
    /// <param name="ReadBytesPerSecond">A sum over one buffer: reads only, like a decode step's weights.</param>
    public sealed record Bandwidth(double CopyBytesPerSecond, double TriadBytesPerSecond, double ReadBytesPerSecond)
    {
        /// <summary>The better of copy and triad (the STREAM figures): the floor the decode-step target is set against.</summary>
        public double Best => Math.Max(CopyBytesPerSecond, TriadBytesPerSecond);
    }

    /// <summary>Copy (b ← a: 2 buffers of traffic), triad-style update (a ← a + s·b: 3 buffers) and a read-only sum
    /// (1 buffer), best of <paramref name="rounds"/> each (STREAM reports the best time). A stream that only reads can be
    /// slower than the STREAM figures: on this 2-core VM the sum reads at ~57 GB/s where the triad moves ~85 GB/s
    /// (docs/benchmarks.md, "Reads alone").</summary>
    public static Bandwidth MeasureBandwidth(int rounds = 5)
    {
        using var _ = no_grad();
        using var a = rand(BufferFloats);
        using var b = rand(BufferFloats);
        double bytes = BufferFloats * sizeof(float);
        double copy = double.MaxValue, triad = double.MaxValue, read = double.MaxValue;
        b.copy_(a);                                                   // touch every page before timing
        TorchScalar.Use(0.5, s => a.add_(b, s));
        for (int i = 0; i < rounds; i++)
        {
            copy = Math.Min(copy, BenchTiming.Time(() => b.copy_(a)));
            triad = Math.Min(triad, BenchTiming.Time(() => TorchScalar.Use(1e-6, s => a.add_(b, s))));
            read = Math.Min(read, BenchTiming.Time(() => a.sum().Dispose()));
        }
        return new Bandwidth(2 * bytes / copy, 3 * bytes / triad, bytes / read);
    }

    /// <summary>FLOP/s of [197×768]×[768×3072] (2·M·K·N per product), median of <paramref name="rounds"/> after a warm-up.</summary>
    public static double MeasureGemm(int rounds = 9)
    {
        using var _ = no_grad();
        using var x = randn(197, 768);
        using var w = randn(768, 3072);
        for (int i = 0; i < 3; i++) x.matmul(w).Dispose();
        var times = new List<double>(rounds);
        for (int i = 0; i < rounds; i++) times.Add(BenchTiming.Time(() => x.matmul(w).Dispose()));
        return 2.0 * 197 * 768 * 3072 / BenchStatistics.Median(times);
    }
}
