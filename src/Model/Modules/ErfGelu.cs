using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// The FFN's exact-form GELU, y = x/2 · (1 + erf(x/√2)), as a C# kernel split over <see cref="KernelThreads"/> for
/// float32 CPU tensors on machines with 512-bit vectors, in inference (libtorch's <c>gelu</c> everywhere else, and for
/// inputs that require gradients while autograd records: training differentiates through it).
/// Why: libtorch hands float32 GELU to oneDNN, serially inside a decode step. Its input is the first FFN linear's
/// output, whose columns the two kernel threads wrote half each, and on the development VM a core reads lines that
/// the other core wrote at about half its memory rate: in a MoE-B decode at B = 8 the call took 93 µs on [32, 3072]
/// in place against 30 µs on a warm tensor, 4.8 % of the decode's wall time (docs/benchmarks.md, "A GELU of our
/// own"). Here each thread takes the same panel columns (<see cref="PanelLinear.Width"/> wide) that it computed in the
/// product, so it reads its own writes.
/// erf is its Maclaurin series for |a| &lt; 0.75 (nine terms) and beyond it the Abramowitz–Stegun form 7.1.26,
/// erf(a) ≈ 1 − (p1·t + … + p5·t⁵)·e^(−a²) with t = 1/(1 + p·|a|), both in Horner form with fused multiply-adds;
/// e^d is the Cody–Waite reduction d = q·ln 2 + s (ln 2 split in two parts), e^s ≈ 1 + s + s²·(a degree-5
/// polynomial), and one rounding of the 2^q scaling. Against libtorch's float64 GELU on [−10, 10) its largest
/// absolute error is 4.7e−7 (libtorch's own float32 GELU, oneDNN's: 1.1–1.2e−6), and on [−1, 1) it is within 3.8
/// units in the last place (oneDNN: 2.6); see ErfGeluSpecs.
/// Invariants: every element is the same sequence of operations (vector lanes and the scalar tail alike), so a value
/// has the same bits whatever its position, the tensor's shape, the thread count and the split.
/// </summary>
internal static unsafe class ErfGelu
{
    /// <summary>Below this many elements the caller does the whole tensor (a hand-off costs more).</summary>
    private const long ParallelMinElements = 1 << 14;

    private const float InvSqrt2 = 0.707106781186547524400844362104849039f;
    private const float P = 0.3275911f, P1 = 0.254829592f, P2 = -0.284496736f, P3 = 1.421413741f, P4 = -1.453152027f, P5 = 1.061405429f;
    /// <summary>Below this |a|, erf(a) is its Maclaurin series a·(S0 + S1·a² + … + S8·a¹⁶), S_n = (2/√π)(−1)ⁿ/(n!(2n + 1));
    /// the next term is under 1e−9 of erf there. The A–S form's absolute error (up to 1.5e−7) is large against small
    /// GELU values; the series keeps |x| &lt; 1.06 within a few units in the last place.</summary>
    private const float SeriesLimit = 0.75f;
    private const float S0 = 1.1283791670955126f, S1 = -0.37612638903183754f, S2 = 0.11283791670955126f, S3 = -0.026866170645131252f,
        S4 = 0.005223977625442188f, S5 = -0.0008548327023450852f, S6 = 0.00012055332981789664f, S7 = -1.492565035840625e-05f,
        S8 = 1.6462114365889246e-06f;
    private const float Log2E = 1.442695040888963407359924681001892137426645954152985934135449406931f;
    private const float Ln2High = 0.693145751953125f, Ln2Low = 1.428606765330187045e-06f;   // Ln2High + Ln2Low = ln 2
    private const float E6 = 0.000198527617612853646278381f, E5 = 0.00139304355252534151077271f, E4 = 0.00833336077630519866943359f,
        E3 = 0.0416664853692054748535156f, E2 = 0.166666671633720397949219f, E1 = 0.5f;
    /// <summary>e^d takes d ≥ this (here d = −a² ≤ 0): e^−104 ≈ 6.8e−46 and the reduction's value at it (0.97·2^−150)
    /// both round to 0, as every e^d below does, so clamping keeps the result and bounds the exponent q ≥ −150.</summary>
    private const float ExpFloor = -104f;

    /// <summary>Whether the kernel runs here (otherwise <see cref="Apply"/> is libtorch's gelu).</summary>
    public static bool Supported => Vector512.IsHardwareAccelerated && Avx512F.IsSupported;

    /// <summary>GELU of <paramref name="x"/> into a new tensor of its shape (exact form, not the tanh one).</summary>
    public static Tensor Apply(Tensor x)
    {
        if (!Supported || is_grad_enabled() && x.requires_grad || x.device_type != DeviceType.CPU || x.dtype != ScalarType.Float32 || !x.is_contiguous() || x.dim() == 0)
            return nn.functional.gelu(x);
        var y = empty_like(x);
        long columns = x.size(-1), rows = columns == 0 ? 0 : x.numel() / columns;
        if (rows == 0) return y;
        var job = new Job(TensorMemory.Floats(x), TensorMemory.Floats(y), rows, columns);
        int panels = (int)((columns + PanelLinear.Width - 1) / PanelLinear.Width);
        KernelThreads.Blocks(panels, x.numel(), ParallelMinElements, job.Panels);
        return y;
    }

    /// <summary>GELU of n floats from x into y (a scalar per element past the last whole vector).</summary>
    public static void Span(float* x, float* y, long n)
    {
        long i = 0;
        for (; i + Vector512<float>.Count <= n; i += Vector512<float>.Count) Vector512.Store(Of(Vector512.Load(x + i)), y + i);
        for (; i < n; i++) y[i] = Of(x[i]);
    }

    /// <summary>One element: the vector path's operations in the same order.</summary>
    public static float Of(float x)
    {
        float a = x * InvSqrt2;
        if (MathF.Abs(a) < SeriesLimit)
        {
            float z = a * a;
            float p = MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(
                MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(S8, z, S7), z, S6), z, S5), z, S4), z, S3), z, S2), z, S1), z, S0);
            return x * 0.5f * (1f + a * p);
        }
        float t = 1f / MathF.FusedMultiplyAdd(P, MathF.Abs(a), 1f);
        float r = MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(P5, t, P4), t, P3), t, P2), t, P1);
        float magnitude = MathF.FusedMultiplyAdd(-Exp(-(a * a)) * t, r, 1f);
        float erf = BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(magnitude) ^ (BitConverter.SingleToInt32Bits(a) & int.MinValue));
        return x * 0.5f * (1f + erf);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Of(Vector512<float> x)
    {
        var one = Vector512<float>.One;
        var a = x * Vector512.Create(InvSqrt2);
        var abs = Vector512.Abs(a);
        var t = one / Vector512.FusedMultiplyAdd(Vector512.Create(P), abs, one);
        var r = Vector512.FusedMultiplyAdd(Vector512.Create(P5), t, Vector512.Create(P4));
        r = Vector512.FusedMultiplyAdd(r, t, Vector512.Create(P3));
        r = Vector512.FusedMultiplyAdd(r, t, Vector512.Create(P2));
        r = Vector512.FusedMultiplyAdd(r, t, Vector512.Create(P1));
        var z = a * a;
        var magnitude = Vector512.FusedMultiplyAdd(-Exp(-z) * t, r, one);
        var tail = magnitude ^ (a & Vector512.Create(-0f));                                 // the sign of a (magnitude ≥ 0)
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(S8), z, Vector512.Create(S7));
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(S6));
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(S5));
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(S4));
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(S3));
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(S2));
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(S1));
        p = Vector512.FusedMultiplyAdd(p, z, Vector512.Create(S0));
        var erf = Vector512.ConditionalSelect(Vector512.LessThan(abs, Vector512.Create(SeriesLimit)), a * p, tail);
        return x * Vector512.Create(0.5f) * (one + erf);
    }

    private static float Exp(float d)
    {
        d = MathF.Max(d, ExpFloor);
        int q = (int)MathF.Round(d * Log2E);                                               // to nearest, ties to even
        float s = MathF.FusedMultiplyAdd(q, -Ln2Low, MathF.FusedMultiplyAdd(q, -Ln2High, d));
        float u = MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(
            E6, s, E5), s, E4), s, E3), s, E2), s, E1);
        u = 1f + MathF.FusedMultiplyAdd(s * s, u, s);
        // u·2^q rounded once, as the vector path's scale: the first factor keeps the product normal (exact), the
        // second rounds.
        int half = q >> 1;
        return u * BitConverter.Int32BitsToSingle((half + 127) << 23) * BitConverter.Int32BitsToSingle((q - half + 127) << 23);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Exp(Vector512<float> d)
    {
        d = Vector512.Max(d, Vector512.Create(ExpFloor));
        var q = Avx512F.ConvertToVector512Int32(d * Vector512.Create(Log2E));             // to nearest, ties to even (MXCSR)
        var qf = Vector512.ConvertToSingle(q);
        var s = Vector512.FusedMultiplyAdd(qf, Vector512.Create(-Ln2High), d);
        s = Vector512.FusedMultiplyAdd(qf, Vector512.Create(-Ln2Low), s);
        var u = Vector512.FusedMultiplyAdd(Vector512.Create(E6), s, Vector512.Create(E5));
        u = Vector512.FusedMultiplyAdd(u, s, Vector512.Create(E4));
        u = Vector512.FusedMultiplyAdd(u, s, Vector512.Create(E3));
        u = Vector512.FusedMultiplyAdd(u, s, Vector512.Create(E2));
        u = Vector512.FusedMultiplyAdd(u, s, Vector512.Create(E1));
        u = Vector512<float>.One + Vector512.FusedMultiplyAdd(s * s, u, s);
        return Avx512F.Scale(u, qf);                                                          // u·2^q, rounded once
    }

    private sealed class Job(float* x, float* y, long rows, long columns)
    {
        /// <summary>Columns [first·Width, end·Width) of every row: the columns a product's same panels wrote.</summary>
        public void Panels(int first, int end)
        {
            long from = (long)first * PanelLinear.Width, to = Math.Min(columns, (long)end * PanelLinear.Width);
            if (from >= to) return;
            for (long r = 0; r < rows; r++) Span(x + r * columns + from, y + r * columns + from, to - from);
        }
    }
}
