using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// softmax(q·kᵀ/√hd + bias)·v for a decode pass on the CPU: a few query tokens per row (a word and the next query)
/// against a key/value cache of a few hundred tokens. libtorch's scaled_dot_product_attention runs two tiny GEMMs per
/// (row, head) through MKL, whose per-call overhead is most of their cost here (13 % of a batch-8 decode step in the
/// profile in docs/benchmarks.md); this reads each cached key and value once per (row, head) with 256-bit vectors and
/// writes the context straight into the [B, N, H·hd] layout the out-projection takes (no transpose copy).
/// Invariants: each (row, head, query) is computed on its own, in one fixed order (scores, max, exponentials and sum,
/// weighted values in key order), whatever the batch size or the thread count, so a row gets the same bits alone or
/// in a batch. The bits differ from libtorch's in the last places (summation order).
/// </summary>
internal static unsafe class DecodeAttention
{
    /// <summary>Passes with at most this many query tokens take this path.</summary>
    public const int MaxQueries = 4;

    /// <summary>Below this many multiply-adds (rows·heads·queries·keys·hd) one thread does it all.</summary>
    private const long ParallelMinWork = 1 << 18;

    /// <summary>Whether <see cref="Apply"/> computes this attention: CPU float32, no autograd, few queries, a head size
    /// of whole 256-bit vectors, keys/values with unit stride in the head dimension, a bias of [·, ·, N, L] or none.</summary>
    public static bool Handles(Tensor q, Tensor keys, Tensor values, Tensor? bias)
    {
        if (!Vector256.IsHardwareAccelerated || is_grad_enabled() && (q.requires_grad || keys.requires_grad || values.requires_grad)) return false;
        if (q.dim() != 4 || keys.dim() != 4 || values.dim() != 4) return false;
        long n = q.shape[2], hd = q.shape[3];
        bool cpuFloat = new[] { q, keys, values }.All(t => t.device_type == TorchSharp.DeviceType.CPU && t.dtype == ScalarType.Float32);
        return cpuFloat && n >= 1 && n <= MaxQueries && hd % Vector256<float>.Count == 0
               && keys.shape.SequenceEqual(values.shape) && keys.shape[0] == q.shape[0] && keys.shape[1] == q.shape[1] && keys.shape[3] == hd
               && q.stride(3) == 1 && keys.stride(3) == 1 && values.stride(3) == 1
               && (bias is null || bias.dim() == 4 && bias.dtype == ScalarType.Float32 && bias.device_type == TorchSharp.DeviceType.CPU
                   && bias.shape[2] == n && bias.shape[3] == keys.shape[2]
                   && (bias.shape[0] == 1 || bias.shape[0] == q.shape[0]) && (bias.shape[1] == 1 || bias.shape[1] == q.shape[1]));
    }

    /// <summary>q [B, H, N, hd], keys/values [B, H, L, hd], bias broadcastable to [B, H, N, L] or null → context
    /// [B, N, H·hd] (new). Call only when <see cref="Handles"/> says so.</summary>
    public static Tensor Apply(Tensor q, Tensor keys, Tensor values, Tensor? bias)
    {
        int b = (int)q.shape[0], h = (int)q.shape[1], n = (int)q.shape[2], hd = (int)q.shape[3], l = (int)keys.shape[2];
        var output = empty(b, n, h * hd, dtype: ScalarType.Float32, device: q.device);
        using var expanded = bias?.expand(b, h, n, l);
        var job = new Job(
            View.Of(q), View.Of(keys), View.Of(values), expanded is null ? default : View.Of(expanded),
            Pointer(output), h, n, hd, l, 1f / MathF.Sqrt(hd));
        int threads = Math.Min(get_num_threads(), Environment.ProcessorCount);
        int pairs = b * h;
        if (threads <= 1 || (long)pairs * n * l * hd < ParallelMinWork)
            job.Heads(0, pairs);
        else
        {
            int block = (pairs + threads - 1) / threads;
            KernelThreads.For(threads, part => job.Heads(Math.Min(pairs, part * block), Math.Min(pairs, (part + 1) * block)));
        }
        return output;
    }

    private static float* Pointer(Tensor t) => (float*)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));

    /// <summary>A 4-d float tensor's storage pointer (at its offset) and element strides; null pointer when absent.</summary>
    private readonly struct View(float* data, long s0, long s1, long s2)
    {
        public static View Of(Tensor t)
        {
            // t.bytes spans the view's elements from its storage offset on; strides may be 0 (broadcast) or larger.
            float* origin = (float*)t.storage<float>().data_ptr() + t.storage_offset();
            return new View(origin, t.stride(0), t.stride(1), t.stride(2));
        }

        public bool Present => data != null;

        public float* At(long i0, long i1, long i2) => data + i0 * s0 + i1 * s1 + i2 * s2;
    }

    private readonly struct Job(View q, View k, View v, View bias, float* output, int heads, int n, int hd, int l, float scale)
    {
        /// <summary>(row, head) pairs [p0, p1), pair p = row·heads + head.</summary>
        public void Heads(int p0, int p1)
        {
            var scores = new float[l];
            fixed (float* s = scores)
                for (int p = p0; p < p1; p++)
                    for (int t = 0; t < n; t++)
                        Query(p / heads, p % heads, t, s);
        }

        private void Query(int row, int head, int t, float* s)
        {
            float* qt = q.At(row, head, t);
            float* biasRow = bias.Present ? bias.At(row, head, t) : null;
            if (hd == 64) Scores64(qt, row, head, s);
            else for (int j = 0; j < l; j++) s[j] = Dot(qt, k.At(row, head, j)) * scale;
            if (biasRow != null)
                for (int j = 0; j < l; j++) s[j] += biasRow[j];
            float inverse = 1f / Exponentials(s, l);
            float* o = output + ((long)row * n + t) * heads * hd + (long)head * hd;
            if (hd == 64)
            {
                Values64(row, head, s, inverse, o);
                return;
            }
            // Weighted values, key by key, accumulated in the output row itself (L1-resident, hd floats).
            for (int d = 0; d < hd; d += Vector256<float>.Count) Vector256<float>.Zero.Store(o + d);
            for (int j = 0; j < l; j++)
            {
                var weight = Vector256.Create(s[j]);
                float* vj = v.At(row, head, j);
                for (int d = 0; d < hd; d += Vector256<float>.Count)
                    Vector256.FusedMultiplyAdd(weight, Vector256.Load(vj + d), Vector256.Load(o + d)).Store(o + d);
            }
            var scaleBack = Vector256.Create(inverse);
            for (int d = 0; d < hd; d += Vector256<float>.Count) (Vector256.Load(o + d) * scaleBack).Store(o + d);
        }

        /// <summary>The common head size (MoE-B and tiny): q and the eight partial sums stay in registers.</summary>
        private void Scores64(float* qt, int row, int head, float* s)
        {
            var q0 = Vector256.Load(qt); var q1 = Vector256.Load(qt + 8); var q2 = Vector256.Load(qt + 16); var q3 = Vector256.Load(qt + 24);
            var q4 = Vector256.Load(qt + 32); var q5 = Vector256.Load(qt + 40); var q6 = Vector256.Load(qt + 48); var q7 = Vector256.Load(qt + 56);
            for (int j = 0; j < l; j++)
            {
                float* kj = k.At(row, head, j);
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

        /// <summary>o = (Σ_j s[j]·v_j)·inverse for a 64-wide head, the accumulators in registers.</summary>
        private void Values64(int row, int head, float* s, float inverse, float* o)
        {
            var o0 = Vector256<float>.Zero; var o1 = o0; var o2 = o0; var o3 = o0; var o4 = o0; var o5 = o0; var o6 = o0; var o7 = o0;
            for (int j = 0; j < l; j++)
            {
                var w = Vector256.Create(s[j]);
                float* vj = v.At(row, head, j);
                o0 = Vector256.FusedMultiplyAdd(w, Vector256.Load(vj), o0);
                o1 = Vector256.FusedMultiplyAdd(w, Vector256.Load(vj + 8), o1);
                o2 = Vector256.FusedMultiplyAdd(w, Vector256.Load(vj + 16), o2);
                o3 = Vector256.FusedMultiplyAdd(w, Vector256.Load(vj + 24), o3);
                o4 = Vector256.FusedMultiplyAdd(w, Vector256.Load(vj + 32), o4);
                o5 = Vector256.FusedMultiplyAdd(w, Vector256.Load(vj + 40), o5);
                o6 = Vector256.FusedMultiplyAdd(w, Vector256.Load(vj + 48), o6);
                o7 = Vector256.FusedMultiplyAdd(w, Vector256.Load(vj + 56), o7);
            }
            var r = Vector256.Create(inverse);
            (o0 * r).Store(o); (o1 * r).Store(o + 8); (o2 * r).Store(o + 16); (o3 * r).Store(o + 24);
            (o4 * r).Store(o + 32); (o5 * r).Store(o + 40); (o6 * r).Store(o + 48); (o7 * r).Store(o + 56);
        }

        /// <summary>s[j] ← exp(s[j] − max s) in place; returns their sum (a fixed lane-then-tail order).</summary>
        private static float Exponentials(float* s, int count)
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

        private float Dot(float* a, float* c)
        {
            var acc = Vector256<float>.Zero;
            for (int d = 0; d < hd; d += Vector256<float>.Count)
                acc = Vector256.FusedMultiplyAdd(Vector256.Load(a + d), Vector256.Load(c + d), acc);
            return Vector256.Sum(acc);
        }
    }
}
