using System.Diagnostics;
using System.Numerics;
using System.Runtime.Intrinsics;
using UniPerceiverMoe.Bench;
using UniPerceiverMoe.Model;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Host.Bench;

/// <summary>
/// This machine's roofs, measured through the same TorchSharp/libtorch paths the model uses, so a benchmark can
/// print its figures next to them in one run: STREAM-style memory bandwidth on buffers far larger than any cache,
/// the fp32 GEMM rate of a [197×768]×[768×3072] product (one MoE-B FFN linear over an image's tokens), and the fp32
/// multiply-add peak of the cores' vector units (what a batched decode step's products are bound by).
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
        using var probe = new BandwidthProbe();
        return probe.Measure(rounds);
    }

    /// <summary>
    /// <see cref="MeasureBandwidth"/>'s two 512 MiB buffers, kept for repeated measurements: a benchmark measures the
    /// floor again beside each of its rounds, because this shared machine's memory speed moves within seconds and a
    /// single probe at the start can fall in another phase than the round it is compared with. Pages are touched once,
    /// when the probe is made, so every measurement times steady-state traffic.
    /// </summary>
    public sealed class BandwidthProbe : IDisposable
    {
        private readonly Tensor a, b;

        public BandwidthProbe()
        {
            using var _ = no_grad();
            a = rand(BufferFloats);
            b = rand(BufferFloats);
            b.copy_(a);                                                   // touch every page before timing
            TorchScalar.Use(0.5, s => a.add_(b, s));
        }

        /// <summary>Copy, triad and read-only sum, best of <paramref name="rounds"/> each.</summary>
        public Bandwidth Measure(int rounds)
        {
            using var _ = no_grad();
            double bytes = BufferFloats * sizeof(float);
            double copy = double.MaxValue, triad = double.MaxValue, read = double.MaxValue;
            for (int i = 0; i < rounds; i++)
            {
                copy = Math.Min(copy, BenchTiming.Time(() => b.copy_(a)));
                triad = Math.Min(triad, BenchTiming.Time(() => TorchScalar.Use(1e-6, s => a.add_(b, s))));
                read = Math.Min(read, BenchTiming.Time(() => a.sum().Dispose()));
            }
            return new Bandwidth(2 * bytes / copy, 3 * bytes / triad, bytes / read);
        }

        public void Dispose()
        {
            a.Dispose();
            b.Dispose();
        }
    }

    /// <summary>
    /// fp32 FLOP/s (2 per multiply-add) that <paramref name="threads"/> threads reach with the widest vectors .NET
    /// accelerates here, in registers only: sixteen independent multiply-add chains per thread, no memory traffic. Best of
    /// <paramref name="rounds"/> rounds of about 0.1 s. On the development VM: 385–478 GFLOP/s on two threads (a first
    /// probe through <c>Parallel.For</c> measured only 287–291; docs/benchmarks.md, "Batched decode at the multiply-add roof").
    /// </summary>
    public static double MeasureFmaPeak(int threads, int rounds = 3)
    {
        const long Iterations = 20_000_000;
        int lanes = Vector512.IsHardwareAccelerated ? Vector512<float>.Count : Vector<float>.Count;
        Chains(1000);                                                    // compiled and warm before timing
        double best = 0;
        for (int round = 0; round < rounds; round++)
        {
            using var start = new Barrier(threads + 1);
            var workers = Enumerable.Range(0, threads).Select(_ => new Thread(() =>
            {
                start.SignalAndWait();
                Sink = Chains(Iterations);
            })).ToArray();
            foreach (var w in workers) w.Start();
            start.SignalAndWait();
            long begin = Stopwatch.GetTimestamp();
            foreach (var w in workers) w.Join();
            double seconds = Stopwatch.GetElapsedTime(begin).TotalSeconds;
            best = Math.Max(best, threads * Iterations * 16.0 * lanes * 2 / seconds);
        }
        return best;
    }

    /// <summary>Keeps <see cref="Chains"/>' result alive, so the JIT cannot drop the loop.</summary>
    private static float Sink;

    /// <summary>Sixteen multiply-add chains of the widest accelerated vector, <paramref name="iterations"/> steps each.</summary>
    private static float Chains(long iterations)
    {
        return Vector512.IsHardwareAccelerated ? Chains512(iterations) : ChainsPreferred(iterations);
    }

    private static float Chains512(long iterations)
    {
        var m = Vector512.Create(0.999999f); var c = Vector512.Create(1e-7f);
        var a0 = Vector512.Create(1f); var a1 = a0; var a2 = a0; var a3 = a0; var a4 = a0; var a5 = a0; var a6 = a0; var a7 = a0;
        var a8 = a0; var a9 = a0; var a10 = a0; var a11 = a0; var a12 = a0; var a13 = a0; var a14 = a0; var a15 = a0;
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c); a2 = Vector512.FusedMultiplyAdd(a2, m, c); a3 = Vector512.FusedMultiplyAdd(a3, m, c);
            a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c); a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c);
            a8 = Vector512.FusedMultiplyAdd(a8, m, c); a9 = Vector512.FusedMultiplyAdd(a9, m, c); a10 = Vector512.FusedMultiplyAdd(a10, m, c); a11 = Vector512.FusedMultiplyAdd(a11, m, c);
            a12 = Vector512.FusedMultiplyAdd(a12, m, c); a13 = Vector512.FusedMultiplyAdd(a13, m, c); a14 = Vector512.FusedMultiplyAdd(a14, m, c); a15 = Vector512.FusedMultiplyAdd(a15, m, c);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15);
    }

    /// <summary>The same with <see cref="Vector{T}"/> (256 bits on x64 without AVX-512, 128 on ARM).</summary>
    private static float ChainsPreferred(long iterations)
    {
        var m = new Vector<float>(0.999999f); var c = new Vector<float>(1e-7f);
        var a0 = new Vector<float>(1f); var a1 = a0; var a2 = a0; var a3 = a0; var a4 = a0; var a5 = a0; var a6 = a0; var a7 = a0;
        var a8 = a0; var a9 = a0; var a10 = a0; var a11 = a0; var a12 = a0; var a13 = a0; var a14 = a0; var a15 = a0;
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector.FusedMultiplyAdd(a0, m, c); a1 = Vector.FusedMultiplyAdd(a1, m, c); a2 = Vector.FusedMultiplyAdd(a2, m, c); a3 = Vector.FusedMultiplyAdd(a3, m, c);
            a4 = Vector.FusedMultiplyAdd(a4, m, c); a5 = Vector.FusedMultiplyAdd(a5, m, c); a6 = Vector.FusedMultiplyAdd(a6, m, c); a7 = Vector.FusedMultiplyAdd(a7, m, c);
            a8 = Vector.FusedMultiplyAdd(a8, m, c); a9 = Vector.FusedMultiplyAdd(a9, m, c); a10 = Vector.FusedMultiplyAdd(a10, m, c); a11 = Vector.FusedMultiplyAdd(a11, m, c);
            a12 = Vector.FusedMultiplyAdd(a12, m, c); a13 = Vector.FusedMultiplyAdd(a13, m, c); a14 = Vector.FusedMultiplyAdd(a14, m, c); a15 = Vector.FusedMultiplyAdd(a15, m, c);
        }
        return Vector.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15);
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
