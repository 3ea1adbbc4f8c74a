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
    /// of whole 256-bit vectors, keys/values with unit stride in the head dimension, a bias that <see cref="AttentionRows.BiasFits"/> or none.</summary>
    public static bool Handles(Tensor q, Tensor keys, Tensor values, Tensor? bias)
    {
        if (!Vector256.IsHardwareAccelerated || is_grad_enabled() && (q.requires_grad || keys.requires_grad || values.requires_grad)) return false;
        if (q.dim() != 4 || keys.dim() != 4 || values.dim() != 4) return false;
        long n = q.size(2), hd = q.size(3);
        bool cpuFloat = new[] { q, keys, values }.All(t => t.device_type == TorchSharp.DeviceType.CPU && t.dtype == ScalarType.Float32);
        return cpuFloat && n >= 1 && n <= MaxQueries && hd % Vector256<float>.Count == 0
               && keys.shape.SequenceEqual(values.shape) && keys.size(0) == q.size(0) && keys.size(1) == q.size(1) && keys.size(3) == hd
               && q.stride(3) == 1 && keys.stride(3) == 1 && values.stride(3) == 1
               && AttentionRows.BiasFits(bias, q.size(0), q.size(1), n, keys.size(2));
    }

    /// <summary>q [B, H, N, hd], keys/values [B, H, L, hd], bias broadcastable to [B, H, N, L] or null → context
    /// [B, N, H·hd] (new). Call only when <see cref="Handles"/> says so.</summary>
    public static Tensor Apply(Tensor q, Tensor keys, Tensor values, Tensor? bias)
    {
        int b = (int)q.size(0), h = (int)q.size(1), n = (int)q.size(2), hd = (int)q.size(3), l = (int)keys.size(2);
        var output = empty(b, n, h * hd, dtype: ScalarType.Float32, device: q.device);
        using var expanded = bias?.expand(b, h, n, l);
        var job = new Job(
            StridedView.Of(q), StridedView.Of(keys), StridedView.Of(values), expanded is null ? default : StridedView.Of(expanded),
            TensorMemory.Floats(output), h, n, hd, l, 1f / MathF.Sqrt(hd));
        int pairs = b * h;
        KernelThreads.Blocks(pairs, (long)pairs * n * l * hd, ParallelMinWork, job.Heads);
        return output;
    }

    private readonly struct Job(StridedView q, StridedView k, StridedView v, StridedView bias, float* output, int heads, int n, int hd, int l, float scale)
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
            AttentionRows.Scores(qt, k.At(row, head, 0), k.KeyStride, l, hd, scale, s);
            if (bias.Present) AttentionRows.AddBias(s, bias.At(row, head, t), l);
            float inverse = 1f / AttentionRows.Exponentials(s, l);
            float* o = output + ((long)row * n + t) * heads * hd + (long)head * hd;
            AttentionRows.Zero(o, hd);
            AttentionRows.AccumulateValues(v.At(row, head, 0), v.KeyStride, l, s, hd, o);
            AttentionRows.Scale(o, hd, inverse);
        }
    }
}
