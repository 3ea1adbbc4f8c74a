using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// The per-query steps of the CPU decode attentions (<see cref="DecodeAttention"/>, <see cref="SharedPrefixAttention"/>):
/// scores against a run of keys, the softmax's exponentials, and weighted values accumulated into an output row.
/// Invariants: every score is one fixed sequence of multiply-adds and one horizontal sum (the same whether it runs in
/// 256-bit or 512-bit vectors, one key at a time or eight), and every output lane one multiply-add chain in key order,
/// so splitting a query's keys into runs (chunks shared between queries, a beam's words scattered over rows) gives the
/// same bits as one pass over all of them.
/// </summary>
internal static unsafe class AttentionRows
{
    /// <summary>Whether <paramref name="bias"/> (or none) is an additive key bias the kernels read: CPU float32,
    /// [1 or rows, 1 or heads, n, keys], unit stride over the keys (<see cref="AddBias"/> reads a row as contiguous).</summary>
    public static bool BiasFits(TorchSharp.torch.Tensor? bias, long rows, long heads, long n, long keys) =>
        bias is null || bias.dim() == 4 && bias.dtype == TorchSharp.torch.ScalarType.Float32 && bias.device_type == TorchSharp.DeviceType.CPU
        && bias.stride(3) == 1 && bias.size(2) == n && bias.size(3) == keys
        && (bias.size(0) == 1 || bias.size(0) == rows) && (bias.size(1) == 1 || bias.size(1) == heads);

    /// <summary>s[j] += biasRow[j], j &lt; count.</summary>
    public static void AddBias(float* s, float* biasRow, int count)
    {
        for (int j = 0; j < count; j++) s[j] += biasRow[j];
    }

    /// <summary>s[j] = (q · k_j)·scale for keys k_j = k + j·keyStride, j &lt; count; hd a multiple of 8.</summary>
    public static void Scores(float* q, float* k, long keyStride, int count, int hd, float scale, float* s)
    {
        if (hd == 64)
        {
            Scores64(q, k, keyStride, count, scale, s);
            return;
        }
        for (int j = 0; j < count; j++)
        {
            float* kj = k + j * keyStride;
            var acc = Vector256<float>.Zero;
            for (int d = 0; d < hd; d += Vector256<float>.Count)
                acc = Vector256.FusedMultiplyAdd(Vector256.Load(q + d), Vector256.Load(kj + d), acc);
            s[j] = Vector256.Sum(acc) * scale;
        }
    }

    /// <summary>The common head size (MoE-B and tiny): q and the two partial sums stay in registers. A score is
    /// Σ_lanes(a + c)·scale, where a and c are two multiply-add chains over alternate 8-float runs of q·k and the
    /// horizontal sum is <c>Vector256.Sum</c>'s tree, ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)).</summary>
    private static void Scores64(float* qt, float* k, long keyStride, int count, float scale, float* s)
    {
        if (Vector512.IsHardwareAccelerated && Avx512F.IsSupported)
        {
            Scores64Wide(qt, k, keyStride, count, scale, s);
            return;
        }
        var q0 = Vector256.Load(qt); var q1 = Vector256.Load(qt + 8); var q2 = Vector256.Load(qt + 16); var q3 = Vector256.Load(qt + 24);
        var q4 = Vector256.Load(qt + 32); var q5 = Vector256.Load(qt + 40); var q6 = Vector256.Load(qt + 48); var q7 = Vector256.Load(qt + 56);
        for (int j = 0; j < count; j++)
        {
            float* kj = k + j * keyStride;
            var a = q0 * Vector256.Load(kj);
            var c = q1 * Vector256.Load(kj + 8);
            a = Vector256.FusedMultiplyAdd(q2, Vector256.Load(kj + 16), a);
            c = Vector256.FusedMultiplyAdd(q3, Vector256.Load(kj + 24), c);
            a = Vector256.FusedMultiplyAdd(q4, Vector256.Load(kj + 32), a);
            c = Vector256.FusedMultiplyAdd(q5, Vector256.Load(kj + 40), c);
            a = Vector256.FusedMultiplyAdd(q6, Vector256.Load(kj + 48), a);
            c = Vector256.FusedMultiplyAdd(q7, Vector256.Load(kj + 56), c);
            s[j] = Vector256.Sum(a + c) * scale;
        }
    }

    /// <summary>
    /// <see cref="Scores64"/> in 512-bit vectors: a key's chains a and c are the two halves of one 512-bit chain, and
    /// eight keys' horizontal sums are done together by a transposing reduction that adds the same pairs in the same
    /// tree as <c>Vector256.Sum</c>: the same bits, with under half the shuffles and adds per key (25 per eight keys against 7
    /// per key).
    /// </summary>
    private static void Scores64Wide(float* qt, float* k, long keyStride, int count, float scale, float* s)
    {
        var q0 = Vector512.Load(qt); var q1 = Vector512.Load(qt + 16); var q2 = Vector512.Load(qt + 32); var q3 = Vector512.Load(qt + 48);
        var factor = Vector256.Create(scale);
        int j = 0;
        for (; j + 8 <= count; j += 8)
        {
            float* kj = k + j * keyStride;
            var v01 = HalvesAdded(Chain(q0, q1, q2, q3, kj), Chain(q0, q1, q2, q3, kj + keyStride));
            var v23 = HalvesAdded(Chain(q0, q1, q2, q3, kj + 2 * keyStride), Chain(q0, q1, q2, q3, kj + 3 * keyStride));
            var v45 = HalvesAdded(Chain(q0, q1, q2, q3, kj + 4 * keyStride), Chain(q0, q1, q2, q3, kj + 5 * keyStride));
            var v67 = HalvesAdded(Chain(q0, q1, q2, q3, kj + 6 * keyStride), Chain(q0, q1, q2, q3, kj + 7 * keyStride));
            // Pairs within every 4-float half: per 128-bit lane i, [A0 + A1, A2 + A3, B0 + B1, B2 + B3] of v01's and v23's lane i.
            var t0123 = Avx512F.Shuffle(v01, v23, 0x88) + Avx512F.Shuffle(v01, v23, 0xDD);
            var t4567 = Avx512F.Shuffle(v45, v67, 0x88) + Avx512F.Shuffle(v45, v67, 0xDD);
            // Each half's sum: lane 0 holds the low halves of keys 0, 2, 4, 6, lane 1 their high halves, lanes 2 and 3 keys 1, 3, 5, 7.
            var halves = Avx512F.Shuffle(t0123, t4567, 0x88) + Avx512F.Shuffle(t0123, t4567, 0xDD);
            // Low half + high half: floats 0–7 are the scores of keys 0, 2, 4, 6, 1, 3, 5, 7.
            var r = Avx512F.Shuffle4x128(halves, halves, 0x88) + Avx512F.Shuffle4x128(halves, halves, 0xDD);
            (Avx512F.PermuteVar16x32(r, ScoreOrder).GetLower() * factor).Store(s + j);
        }
        for (; j < count; j++)
        {
            var x = Chain(q0, q1, q2, q3, k + j * keyStride);
            s[j] = Vector256.Sum(x.GetLower() + x.GetUpper()) * scale;
        }
    }

    /// <summary>Where <see cref="Scores64Wide"/>'s reduction leaves scores 0–7.</summary>
    private static readonly Vector512<int> ScoreOrder = Vector512.Create(0, 4, 1, 5, 2, 6, 3, 7, 0, 0, 0, 0, 0, 0, 0, 0);

    /// <summary>q·k's two chains as one 512-bit chain: lanes 0–7 are a (q's runs 0, 2, 4, 6), lanes 8–15 are c (runs 1, 3, 5, 7).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Chain(Vector512<float> q0, Vector512<float> q1, Vector512<float> q2, Vector512<float> q3, float* kj)
    {
        var x = q0 * Vector512.Load(kj);
        x = Vector512.FusedMultiplyAdd(q1, Vector512.Load(kj + 16), x);
        x = Vector512.FusedMultiplyAdd(q2, Vector512.Load(kj + 32), x);
        return Vector512.FusedMultiplyAdd(q3, Vector512.Load(kj + 48), x);
    }

    /// <summary>Two keys' chains [a | c] → [v.lo | v.hi | v'.lo | v'.hi] with v = a + c, in 128-bit lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> HalvesAdded(Vector512<float> x, Vector512<float> y) =>
        Avx512F.Shuffle4x128(x, y, 0x44) + Avx512F.Shuffle4x128(x, y, 0xEE);

    /// <summary>s[j] ← exp(s[j] − max s) in place; returns their sum (a fixed lane-then-tail order).</summary>
    public static float Exponentials(float* s, int count)
    {
        const int width = 8;
        int j = 0;
        float max = float.NegativeInfinity;
        if (count >= width)
        {
            var m = Vector256.Load(s);
            for (j = width; j + width <= count; j += width) m = Vector256.Max(m, Vector256.Load(s + j));
            for (int lane = 0; lane < width; lane++) max = MathF.Max(max, m[lane]);
        }
        for (; j < count; j++) max = MathF.Max(max, s[j]);
        var shift = Vector256.Create(max);
        var sums = Vector256<float>.Zero;
        for (j = 0; j + width <= count; j += width)
        {
            var e = Vector256.Exp(Vector256.Load(s + j) - shift);
            e.Store(s + j);
            sums += e;
        }
        float sum = Vector256.Sum(sums);
        for (; j < count; j++)
        {
            s[j] = MathF.Exp(s[j] - max);
            sum += s[j];
        }
        return sum;
    }

    /// <summary>o[d] ← o[d] + Σ_j w[j]·v_j[d] for values v_j = v + j·valueStride, j &lt; count, in key order.</summary>
    public static void AccumulateValues(float* v, long valueStride, int count, float* w, int hd, float* o)
    {
        if (hd == 64)
        {
            AccumulateValues64(v, valueStride, count, w, o);
            return;
        }
        for (int j = 0; j < count; j++)
        {
            var weight = Vector256.Create(w[j]);
            float* vj = v + j * valueStride;
            for (int d = 0; d < hd; d += Vector256<float>.Count)
                Vector256.FusedMultiplyAdd(weight, Vector256.Load(vj + d), Vector256.Load(o + d)).Store(o + d);
        }
    }

    /// <summary>As <see cref="AccumulateValues"/> for a 64-wide head, the accumulators in registers. Each lane is the same
    /// multiply-add chain at any vector width, so the 512-bit loop (half the instructions) gives the 256-bit loop's bits.</summary>
    private static void AccumulateValues64(float* v, long valueStride, int count, float* w, float* o)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            AccumulateValues64Wide(v, valueStride, count, w, o);
            return;
        }
        var o0 = Vector256.Load(o); var o1 = Vector256.Load(o + 8); var o2 = Vector256.Load(o + 16); var o3 = Vector256.Load(o + 24);
        var o4 = Vector256.Load(o + 32); var o5 = Vector256.Load(o + 40); var o6 = Vector256.Load(o + 48); var o7 = Vector256.Load(o + 56);
        for (int j = 0; j < count; j++)
        {
            var weight = Vector256.Create(w[j]);
            float* vj = v + j * valueStride;
            o0 = Vector256.FusedMultiplyAdd(weight, Vector256.Load(vj), o0);
            o1 = Vector256.FusedMultiplyAdd(weight, Vector256.Load(vj + 8), o1);
            o2 = Vector256.FusedMultiplyAdd(weight, Vector256.Load(vj + 16), o2);
            o3 = Vector256.FusedMultiplyAdd(weight, Vector256.Load(vj + 24), o3);
            o4 = Vector256.FusedMultiplyAdd(weight, Vector256.Load(vj + 32), o4);
            o5 = Vector256.FusedMultiplyAdd(weight, Vector256.Load(vj + 40), o5);
            o6 = Vector256.FusedMultiplyAdd(weight, Vector256.Load(vj + 48), o6);
            o7 = Vector256.FusedMultiplyAdd(weight, Vector256.Load(vj + 56), o7);
        }
        o0.Store(o); o1.Store(o + 8); o2.Store(o + 16); o3.Store(o + 24);
        o4.Store(o + 32); o5.Store(o + 40); o6.Store(o + 48); o7.Store(o + 56);
    }

    private static void AccumulateValues64Wide(float* v, long valueStride, int count, float* w, float* o)
    {
        var o0 = Vector512.Load(o); var o1 = Vector512.Load(o + 16); var o2 = Vector512.Load(o + 32); var o3 = Vector512.Load(o + 48);
        for (int j = 0; j < count; j++)
        {
            var weight = Vector512.Create(w[j]);
            float* vj = v + j * valueStride;
            o0 = Vector512.FusedMultiplyAdd(weight, Vector512.Load(vj), o0);
            o1 = Vector512.FusedMultiplyAdd(weight, Vector512.Load(vj + 16), o1);
            o2 = Vector512.FusedMultiplyAdd(weight, Vector512.Load(vj + 32), o2);
            o3 = Vector512.FusedMultiplyAdd(weight, Vector512.Load(vj + 48), o3);
        }
        o0.Store(o); o1.Store(o + 16); o2.Store(o + 32); o3.Store(o + 48);
    }

    /// <summary>Whether <see cref="AccumulateValues64Four"/> runs here for <paramref name="hd"/>-wide heads: 64 wide, with
    /// 512-bit vectors.</summary>
    public static bool HasFourQueryValues(int hd) => hd == 64 && Vector512.IsHardwareAccelerated;

    /// <summary>
    /// <see cref="AccumulateValues"/> for four queries over the same 64-wide values: each value row is loaded once for
    /// all four, and the sixteen accumulators are sixteen independent chains (one query's four chains wait on the
    /// multiply-add latency). Each lane of each query is the same chain in key order as in <see cref="AccumulateValues"/>,
    /// so the bits are the same. <paramref name="w"/> holds the four queries' weights <paramref name="weightStride"/>
    /// floats apart; <paramref name="o"/> their outputs <paramref name="outputStride"/> floats apart. Only where
    /// <see cref="HasFourQueryValues"/> holds.
    /// </summary>
    public static void AccumulateValues64Four(float* v, long valueStride, int count, float* w, int weightStride, float* o, long outputStride)
    {
        float* w1 = w + weightStride, w2 = w1 + weightStride, w3 = w2 + weightStride;
        float* p0 = o, p1 = o + outputStride, p2 = p1 + outputStride, p3 = p2 + outputStride;
        var a0 = Vector512.Load(p0); var a1 = Vector512.Load(p0 + 16); var a2 = Vector512.Load(p0 + 32); var a3 = Vector512.Load(p0 + 48);
        var b0 = Vector512.Load(p1); var b1 = Vector512.Load(p1 + 16); var b2 = Vector512.Load(p1 + 32); var b3 = Vector512.Load(p1 + 48);
        var c0 = Vector512.Load(p2); var c1 = Vector512.Load(p2 + 16); var c2 = Vector512.Load(p2 + 32); var c3 = Vector512.Load(p2 + 48);
        var d0 = Vector512.Load(p3); var d1 = Vector512.Load(p3 + 16); var d2 = Vector512.Load(p3 + 32); var d3 = Vector512.Load(p3 + 48);
        for (int j = 0; j < count; j++)
        {
            float* vj = v + j * valueStride;
            var v0 = Vector512.Load(vj); var v1 = Vector512.Load(vj + 16); var v2 = Vector512.Load(vj + 32); var v3 = Vector512.Load(vj + 48);
            var e = Vector512.Create(w[j]);
            a0 = Vector512.FusedMultiplyAdd(e, v0, a0); a1 = Vector512.FusedMultiplyAdd(e, v1, a1);
            a2 = Vector512.FusedMultiplyAdd(e, v2, a2); a3 = Vector512.FusedMultiplyAdd(e, v3, a3);
            e = Vector512.Create(w1[j]);
            b0 = Vector512.FusedMultiplyAdd(e, v0, b0); b1 = Vector512.FusedMultiplyAdd(e, v1, b1);
            b2 = Vector512.FusedMultiplyAdd(e, v2, b2); b3 = Vector512.FusedMultiplyAdd(e, v3, b3);
            e = Vector512.Create(w2[j]);
            c0 = Vector512.FusedMultiplyAdd(e, v0, c0); c1 = Vector512.FusedMultiplyAdd(e, v1, c1);
            c2 = Vector512.FusedMultiplyAdd(e, v2, c2); c3 = Vector512.FusedMultiplyAdd(e, v3, c3);
            e = Vector512.Create(w3[j]);
            d0 = Vector512.FusedMultiplyAdd(e, v0, d0); d1 = Vector512.FusedMultiplyAdd(e, v1, d1);
            d2 = Vector512.FusedMultiplyAdd(e, v2, d2); d3 = Vector512.FusedMultiplyAdd(e, v3, d3);
        }
        a0.Store(p0); a1.Store(p0 + 16); a2.Store(p0 + 32); a3.Store(p0 + 48);
        b0.Store(p1); b1.Store(p1 + 16); b2.Store(p1 + 32); b3.Store(p1 + 48);
        c0.Store(p2); c1.Store(p2 + 16); c2.Store(p2 + 32); c3.Store(p2 + 48);
        d0.Store(p3); d1.Store(p3 + 16); d2.Store(p3 + 32); d3.Store(p3 + 48);
    }

    public static void Zero(float* o, int hd)
    {
        for (int d = 0; d < hd; d += Vector256<float>.Count) Vector256<float>.Zero.Store(o + d);
    }

    public static void Scale(float* o, int hd, float factor)
    {
        var f = Vector256.Create(factor);
        for (int d = 0; d < hd; d += Vector256<float>.Count) (Vector256.Load(o + d) * f).Store(o + d);
    }
}
