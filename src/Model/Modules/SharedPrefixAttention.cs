using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// A <see cref="KvCache"/> pass's attention on the CPU: each (input, head) reads its prefix keys and values once, in
/// chunks that every query of the input's rows (beams × the pass's tokens) uses while they sit in L1, then each
/// query adds its own row's kept words (found through the ancestor table, in runs of slots held by one row) and the
/// current tokens. A copied prefix per beam read the prefix once per row: at batch 8, beam 2 that was 230 MB a step
/// for MoE-B, as much as its weights (docs/benchmarks.md).
/// Invariants: a query's scores, exponentials and weighted values are <see cref="AttentionRows"/>' fixed sequences
/// over [prefix, kept words, current tokens] in key order, exactly what <see cref="DecodeAttention"/> computes over
/// the same keys in one cache row, so the bits do not depend on the batch, the beam's layout or the thread count.
/// </summary>
internal static unsafe class SharedPrefixAttention
{
    /// <summary>Prefix keys per chunk: 32 keys × 64 floats is 8 KB of keys or values.</summary>
    private const int Chunk = 32;

    /// <summary>How many chunks ahead a unit prefetches. One gained 2.4–3 % per B = 8 decode (about a seventh of its
    /// attention time) in decodes interleaved with and without it; two gained less (docs/benchmarks.md, "Reading ahead").</summary>
    private const int PrefetchDistance = 1;

    /// <summary>Below this many multiply-adds (rows·heads·queries·keys·hd) one thread does it all.</summary>
    private const long ParallelMinWork = 1 << 18;

    /// <summary>Whether <see cref="Apply"/> computes this pass over <paramref name="keys"/> keys per row: CPU float32 without
    /// autograd, a head size of whole 256-bit vectors, unit stride in the head dimension, a bias that
    /// <see cref="AttentionRows.BiasFits"/> [R, H, n, keys] or none.</summary>
    public static bool Handles(Tensor q, LayerKv prefix, LayerKv words, int keys, Tensor? bias)
    {
        if (!Vector256.IsHardwareAccelerated || is_grad_enabled() && (q.requires_grad || prefix.K.requires_grad || prefix.V.requires_grad)) return false;
        var all = new[] { q, prefix.K, prefix.V, words.K, words.V };
        if (!all.All(t => t.dim() == 4 && t.device_type == TorchSharp.DeviceType.CPU && t.dtype == ScalarType.Float32 && t.stride(3) == 1))
            return false;
        long rows = q.size(0), heads = q.size(1), n = q.size(2), hd = q.size(3);
        return hd % Vector256<float>.Count == 0 && prefix.K.size(3) == hd && words.K.size(3) == hd
               && AttentionRows.BiasFits(bias, rows, heads, n, keys);
    }

    /// <summary>q [R, H, m, hd] against the cache's prefix, kept words and the n current tokens → context [R, m, H·hd]
    /// (new). The current tokens are in the word slots [Length, Length + n) already, or, when <paramref name="newKeys"/>
    /// and <paramref name="newValues"/> [R, H, n, hd] are given, each (input, head) unit copies its rows' into them
    /// first (<see cref="KvSlotWriter"/> must take both): the thread that reads a unit's slots then wrote them, instead
    /// of the caller writing all of them before the split (on the development VM a core reads lines another core wrote
    /// at about half speed). m ≤ n: a query's result does not depend on which current token it belongs to (only its
    /// bias row says what it may see). Call only when <see cref="Handles"/> says so.</summary>
    public static Tensor Apply(Tensor q, LayerKv prefix, LayerKv words, KvCache cache, int n, Tensor? bias,
        Tensor? newKeys = null, Tensor? newValues = null)
    {
        int rows = cache.Rows, heads = cache.Heads, m = (int)q.size(2), hd = cache.HeadDim;
        int keys = cache.KeyCount + n;
        var output = empty(rows, m, heads * hd, dtype: ScalarType.Float32, device: q.device);
        using var expanded = bias?.expand(rows, heads, m, keys);
        var job = new Job(StridedView.Of(q), StridedView.Of(prefix.K), StridedView.Of(prefix.V), StridedView.Of(words.K),
            StridedView.Of(words.V), expanded is null ? default : StridedView.Of(expanded), cache, TensorMemory.Floats(output), m, n, 1f / MathF.Sqrt(hd),
            newKeys is null ? default : StridedView.Of(newKeys), newValues is null ? default : StridedView.Of(newValues));
        int units = cache.Inputs * heads;
        KernelThreads.Blocks(units, (long)rows * heads * m * keys * hd, ParallelMinWork, job.Units);
        return output;
    }

    /// <summary>m queries per row (<c>q</c>, <c>bias</c> and the output are indexed by query), n current tokens.</summary>
    private readonly struct Job(StridedView q, StridedView prefixK, StridedView prefixV, StridedView wordK, StridedView wordV,
        StridedView bias, KvCache cache, float* output, int m, int n, float scale, StridedView newK, StridedView newV)
    {
        private int Group => cache.RowsPerInput;
        private int Heads => cache.Heads;
        private int HeadDim => cache.HeadDim;
        private int PrefixLength => cache.PrefixLength;
        private int Kept => cache.Length;
        private int Keys => cache.KeyCount + n;

        /// <summary>(input, head) units [u0, u1), unit u = input·heads + head.</summary>
        public void Units(int u0, int u1)
        {
            int queries = Group * m;
            var scores = new float[queries * Keys];
            var inverses = new float[queries];
            fixed (float* s = scores)
            fixed (float* inverse = inverses)
                for (int u = u0; u < u1; u++)
                {
                    float* followingKeys = u + 1 < u1 ? prefixK.At(cache.PrefixInput((u + 1) / Heads), (u + 1) % Heads, 0) : null;
                    Unit(u / Heads, u % Heads, s, inverse, followingKeys);
                }
        }

        /// <summary>Prefetches into L1 the prefix chunk this unit reads <paramref name="index"/>-th: key chunks 0 … C − 1,
        /// then value chunks 0 … C − 1, then the following unit's key chunks (none past the block's last unit). A unit
        /// reads its prefix in 8 KB chunks, too short for the hardware's stream prefetcher to get ahead of.</summary>
        private void PrefetchChunk(int prefixInput, int head, int index, float* followingKeys)
        {
            if (!Sse.IsSupported) return;
            int chunks = (PrefixLength + Chunk - 1) / Chunk;
            int pass = index / chunks, c = index % chunks, count = Math.Min(Chunk, PrefixLength - c * Chunk);
            if (pass > 2 || pass == 2 && followingKeys == null) return;
            var view = pass == 1 ? prefixV : prefixK;
            long stride = view.KeyStride;
            float* start = pass == 2 ? followingKeys + c * Chunk * stride : view.At(prefixInput, head, c * Chunk);
            for (int j = 0; j < count; j++)
                for (int d = 0; d < HeadDim; d += 16)
                    Sse.Prefetch0(start + j * stride + d);
        }

        /// <summary>Query i = g·m + t is query t of row input·G + g; its scores are s[i·Keys …].</summary>
        private void Unit(int input, int head, float* s, float* inverse, float* followingKeys)
        {
            int group = Group, keys = Keys, hd = HeadDim, prefixLength = PrefixLength, kept = Kept, prefixInput = cache.PrefixInput(input);
            // This unit's rows' current tokens into their slots (a row's pass reads only its own, and slots before
            // Length from earlier passes), then the attention that reads them.
            if (newK.Present)
                for (int g = 0; g < group; g++)
                {
                    KvSlotWriter.Write(newK, wordK, input * group + g, head, n, hd, kept);
                    KvSlotWriter.Write(newV, wordV, input * group + g, head, n, hd, kept);
                }
            int chunks = (prefixLength + Chunk - 1) / Chunk;
            for (int c0 = 0; c0 < prefixLength; c0 += Chunk)
            {
                int count = Math.Min(Chunk, prefixLength - c0);
                float* chunk = prefixK.At(prefixInput, head, c0);
                PrefetchChunk(prefixInput, head, c0 / Chunk + PrefetchDistance, followingKeys);
                for (int i = 0; i < group * m; i++)
                    AttentionRows.Scores(q.At(input * group + i / m, head, i % m), chunk, prefixK.KeyStride, count, hd, scale, s + i * keys + c0);
            }
            for (int i = 0; i < group * m; i++)
            {
                int row = input * group + i / m, t = i % m;
                float* qt = q.At(row, head, t);
                float* si = s + i * keys;
                for (int s0 = 0, s1; s0 < kept; s0 = s1)
                {
                    s1 = RunEnd(row, s0, out int holder);
                    AttentionRows.Scores(qt, wordK.At(holder, head, s0), wordK.KeyStride, s1 - s0, hd, scale, si + prefixLength + s0);
                }
                AttentionRows.Scores(qt, wordK.At(row, head, kept), wordK.KeyStride, n, hd, scale, si + prefixLength + kept);
                if (bias.Present) AttentionRows.AddBias(si, bias.At(row, head, t), keys);
                inverse[i] = 1f / AttentionRows.Exponentials(si, keys);
                AttentionRows.Zero(Output(row, t, head), hd);
            }
            for (int c0 = 0; c0 < prefixLength; c0 += Chunk)
            {
                int count = Math.Min(Chunk, prefixLength - c0);
                float* chunk = prefixV.At(prefixInput, head, c0);
                PrefetchChunk(prefixInput, head, chunks + c0 / Chunk + PrefetchDistance, followingKeys);
                int i = 0;
                if (AttentionRows.HasFourQueryValues(hd))
                    for (; i + 4 <= group * m; i += 4)    // queries i … i + 3: weights `keys` floats apart, outputs H·hd apart
                        AttentionRows.AccumulateValues64Four(chunk, prefixV.KeyStride, count, s + i * keys + c0, keys,
                            Output(input * group + i / m, i % m, head), (long)Heads * hd);
                for (; i < group * m; i++)
                    AttentionRows.AccumulateValues(chunk, prefixV.KeyStride, count, s + i * keys + c0, hd, Output(input * group + i / m, i % m, head));
            }
            for (int i = 0; i < group * m; i++)
            {
                int row = input * group + i / m, t = i % m;
                float* si = s + i * keys + prefixLength;
                float* o = Output(row, t, head);
                for (int s0 = 0, s1; s0 < kept; s0 = s1)
                {
                    s1 = RunEnd(row, s0, out int holder);
                    AttentionRows.AccumulateValues(wordV.At(holder, head, s0), wordV.KeyStride, s1 - s0, si + s0, hd, o);
                }
                AttentionRows.AccumulateValues(wordV.At(row, head, kept), wordV.KeyStride, n, si + kept, hd, o);
                AttentionRows.Scale(o, hd, inverse[i]);
            }
        }

        /// <summary>The end of the run of <paramref name="row"/>'s kept words from slot <paramref name="start"/> on that one
        /// row holds (<paramref name="holder"/>): such a run is one strided stretch of that row's slots.</summary>
        private int RunEnd(int row, int start, out int holder)
        {
            holder = cache.Ancestor(row, start);
            int end = start + 1;
            while (end < Kept && cache.Ancestor(row, end) == holder) end++;
            return end;
        }

        /// <summary>Query t of row r, head h, in the [R, m, H·hd] context.</summary>
        private float* Output(int row, int t, int head) => output + ((long)row * m + t) * Heads * HeadDim + (long)head * HeadDim;
    }
}
