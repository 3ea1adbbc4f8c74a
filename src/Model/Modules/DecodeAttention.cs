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
    public static bool Handles(Tensor q, Tensor keys, Tensor values, Tensor? bias) =>
        OperandsFit(q, keys, values) && keys.size(0) == q.size(0) && AttentionRows.BiasFits(bias, q.size(0), q.size(1), q.size(2), keys.size(2));

    /// <summary>As <see cref="Handles(Tensor, Tensor, Tensor, Tensor?)"/> for keys and values in two runs, a prefix
    /// ([B or 1, H, P, hd]: one for every row) and the pass's own ([B, H, N', hd]).</summary>
    public static bool Handles(Tensor q, Tensor prefixKeys, Tensor prefixValues, Tensor keys, Tensor values, Tensor? bias) =>
        Handles(q, keys, values, null) && OperandsFit(q, prefixKeys, prefixValues) && (prefixKeys.size(0) == q.size(0) || prefixKeys.size(0) == 1)
        && AttentionRows.BiasFits(bias, q.size(0), q.size(1), q.size(2), prefixKeys.size(2) + keys.size(2));

    /// <summary>q against one run of keys and values: everything but the batch size and the bias.</summary>
    private static bool OperandsFit(Tensor q, Tensor keys, Tensor values)
    {
        if (!Vector256.IsHardwareAccelerated || is_grad_enabled() && (q.requires_grad || keys.requires_grad || values.requires_grad)) return false;
        if (q.dim() != 4 || keys.dim() != 4 || values.dim() != 4) return false;
        long n = q.size(2), hd = q.size(3);
        bool cpuFloat = new[] { q, keys, values }.All(t => t.device_type == TorchSharp.DeviceType.CPU && t.dtype == ScalarType.Float32);
        return cpuFloat && n >= 1 && n <= MaxQueries && hd % Vector256<float>.Count == 0
               && TensorShapes.Of(keys).SequenceEqual(TensorShapes.Of(values)) && keys.size(1) == q.size(1) && keys.size(3) == hd
               && q.stride(3) == 1 && keys.stride(3) == 1 && values.stride(3) == 1;
    }

    /// <summary>q [B, H, N, hd], keys/values [B, H, L, hd], bias broadcastable to [B, H, N, L] or null → context
    /// [B, N, H·hd] (new). Call only when <see cref="Handles(Tensor, Tensor, Tensor, Tensor?)"/> says so.</summary>
    public static Tensor Apply(Tensor q, Tensor keys, Tensor values, Tensor? bias) => Apply(q, null, null, keys, values, bias);

    /// <summary>
    /// As <see cref="Apply(Tensor, Tensor, Tensor, Tensor?)"/> over the keys and values <c>cat([prefix, own], 2)</c> would
    /// hold, read in place: the first query pass of a caption attends to the image prefix of each row (197 tokens on
    /// MoE-B) and to itself, and the copy cost more than the attention (2 % of a batch-8 decode). The bits are those
    /// of the concatenated call: a query's keys may be split into runs (<see cref="AttentionRows"/>). Call only when
    /// <see cref="Handles(Tensor, Tensor, Tensor, Tensor, Tensor, Tensor?)"/> says so.
    /// </summary>
    public static Tensor Apply(Tensor q, Tensor? prefixKeys, Tensor? prefixValues, Tensor keys, Tensor values, Tensor? bias)
    {
        int b = (int)q.size(0), h = (int)q.size(1), n = (int)q.size(2), hd = (int)q.size(3);
        int p = prefixKeys is null ? 0 : (int)prefixKeys.size(2), l = p + (int)keys.size(2);
        var output = empty(b, n, h * hd, dtype: ScalarType.Float32, device: q.device);
        using var expanded = bias?.expand(b, h, n, l);
        using var prefixK = prefixKeys?.expand(b, -1, -1, -1);
        using var prefixV = prefixValues?.expand(b, -1, -1, -1);
        var job = new Job(
            StridedView.Of(q), prefixK is null ? default : StridedView.Of(prefixK), prefixV is null ? default : StridedView.Of(prefixV),
            StridedView.Of(keys), StridedView.Of(values), expanded is null ? default : StridedView.Of(expanded),
            TensorMemory.Floats(output), h, n, hd, p, l, 1f / MathF.Sqrt(hd));
        int pairs = b * h;
        KernelThreads.Blocks(pairs, (long)pairs * n * l * hd, ParallelMinWork, job.Heads);
        return output;
    }

    /// <summary>Keys 0 … p − 1 from the prefix views (pk, pv), keys p … l − 1 from the pass's own (k, v).</summary>
    private readonly struct Job(StridedView q, StridedView pk, StridedView pv, StridedView k, StridedView v, StridedView bias, float* output,
        int heads, int n, int hd, int p, int l, float scale)
    {
        /// <summary>(row, head) pairs [p0, p1), pair = row·heads + head.</summary>
        public void Heads(int p0, int p1)
        {
            var scores = new float[l];
            fixed (float* s = scores)
                for (int pair = p0; pair < p1; pair++)
                    for (int t = 0; t < n; t++)
                        Query(pair / heads, pair % heads, t, s);
        }

        private void Query(int row, int head, int t, float* s)
        {
            float* qt = q.At(row, head, t);
            if (p > 0) AttentionRows.Scores(qt, pk.At(row, head, 0), pk.KeyStride, p, hd, scale, s);
            AttentionRows.Scores(qt, k.At(row, head, 0), k.KeyStride, l - p, hd, scale, s + p);
            if (bias.Present) AttentionRows.AddBias(s, bias.At(row, head, t), l);
            float inverse = 1f / AttentionRows.Exponentials(s, l);
            float* o = output + ((long)row * n + t) * heads * hd + (long)head * hd;
            AttentionRows.Zero(o, hd);
            if (p > 0) AttentionRows.AccumulateValues(pv.At(row, head, 0), pv.KeyStride, p, s, hd, o);
            AttentionRows.AccumulateValues(v.At(row, head, 0), v.KeyStride, l - p, s + p, hd, o);
            AttentionRows.Scale(o, hd, inverse);
        }
    }
}
