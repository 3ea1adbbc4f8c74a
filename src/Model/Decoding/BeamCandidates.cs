using System.Runtime.Intrinsics;
using UniPerceiverMoe.Model.Modules;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Decoding;

/// <summary>
/// One beam-search step's selection. Input b's candidates are (beam j, word w) for its cur beams and V words: a live
/// beam offers its cumulative log-prob s_j plus the word's log-prob l_jw; a finished beam offers EOS at s_j and every
/// other word at <see cref="Finished"/>. Each input keeps its best <c>beam</c> candidates, highest first, as flat
/// indices j·V + w. These are exactly the values of the reference's masked arithmetic, mask·(s + l) + old·(1 − mask)
/// with old = <see cref="Finished"/> but s_j at EOS: a 0/1 mask only adds a signed zero.
/// <see cref="TopK"/> does it in one pass over the log-probs on the CPU (no [B, cur, V] intermediates: with the
/// 49,411-word bank each is 0.4 MB per row, and a step made eight of them); <see cref="TopKTensors"/> is the same
/// selection in tensor ops, for any device. Exactly equal candidates: the CPU pass keeps the earlier index first,
/// libtorch's topk leaves their order unspecified.
/// </summary>
internal static unsafe class BeamCandidates
{
    /// <summary>A finished beam's score for any word but EOS (the reference's constant).</summary>
    public const float Finished = -999f;

    /// <summary>Whether <see cref="TopK"/> reads these operands in place: all CPU float32, contiguous.</summary>
    public static bool Handles(Tensor logprob, Tensor cumulative, Tensor? live) =>
        ReadsInPlace(logprob) && ReadsInPlace(cumulative) && (live is null || ReadsInPlace(live));

    private static bool ReadsInPlace(Tensor t) => t.device_type == TorchSharp.DeviceType.CPU && t.dtype == ScalarType.Float32 && t.is_contiguous();

    /// <summary>
    /// <paramref name="logprob"/> [B·cur, V], <paramref name="cumulative"/> [B, cur, 1], <paramref name="live"/>
    /// [B, cur, 1] of 0/1 or null (every beam live) → (values [B, beam], flat indices [B, beam]), new CPU tensors.
    /// Call only when <see cref="Handles"/> says so.
    /// </summary>
    public static (Tensor Values, Tensor Indices) TopK(Tensor logprob, Tensor cumulative, Tensor? live, long eosRow, int beam)
    {
        int batch = (int)cumulative.size(0), cur = (int)cumulative.size(1), vocab = (int)logprob.size(1);
        Check(logprob, batch, cur, vocab, eosRow, beam);
        if (!Handles(logprob, cumulative, live)) throw new ArgumentException("TopK reads CPU float32 contiguous operands; use TopKTensors.");
        var values = new float[batch * beam];
        var indices = new long[batch * beam];
        float* l = TensorMemory.Floats(logprob), sp = TensorMemory.Floats(cumulative), mp = live is null ? null : TensorMemory.Floats(live);
        fixed (float* v = values)
        fixed (long* ix = indices)
            for (int b = 0; b < batch; b++)
            {
                var best = new Best(v + b * beam, ix + b * beam, beam);
                for (int j = 0; j < cur; j++)
                {
                    int row = b * cur + j;
                    long first = (long)j * vocab;
                    if (mp == null || mp[row] != 0) best.OfferLive(l + (long)row * vocab, sp[row], vocab, first);
                    else best.OfferFinished(sp[row], vocab, eosRow, first);
                }
            }
        return (tensor(values, [batch, beam]), tensor(indices, [batch, beam]));
    }

    /// <summary>The same selection in tensor ops on <paramref name="logprob"/>'s device (the reference's arithmetic).</summary>
    public static (Tensor Values, Tensor Indices) TopKTensors(Tensor logprob, Tensor cumulative, Tensor? live, long eosRow, int beam)
    {
        int batch = (int)cumulative.size(0), cur = (int)cumulative.size(1), vocab = (int)logprob.size(1);
        Check(logprob, batch, cur, vocab, eosRow, beam);
        using var scope = NewDisposeScope();
        var candidate = cumulative.Plus(logprob.view(batch, cur, vocab));                        // [B, cur, V]
        if (live is not null)
        {
            var old = TorchScalar.Use(Finished, f => full(batch, cur, vocab, f, device: logprob.device));
            old.narrow(2, eosRow, 1).copy_(cumulative);
            candidate = (live * candidate).Plus(old * live.neg().PlusInPlace(1));                // 1 − mask (exact: the mask is 0/1)
        }
        var (values, indices) = candidate.view(batch, -1).topk(beam);                           // sorted, highest first
        return (values.MoveToOuterDisposeScope(), indices.MoveToOuterDisposeScope());
    }

    private static void Check(Tensor logprob, int batch, int cur, int vocab, long eosRow, int beam)
    {
        if (logprob.dim() != 2 || logprob.size(0) != (long)batch * cur)
            throw new ArgumentException($"log-probs [{string.Join(", ", logprob.shape)}] are not [{batch}·{cur}, V].", nameof(logprob));
        if ((long)cur * vocab < beam)
            throw new ArgumentException($"{cur} beam(s) × {vocab} words give fewer candidates than the beam of {beam}.", nameof(beam));
        if (eosRow < 0 || eosRow >= vocab) throw new ArgumentOutOfRangeException(nameof(eosRow), eosRow, $"EOS must be a row of the {vocab}-word bank.");
    }

    /// <summary>An input's best candidates so far, highest first; a candidate enters only if strictly better than the
    /// last kept, so among equal values the earlier index stays first.</summary>
    private struct Best(float* values, long* indices, int size)
    {
        private int count;

        /// <summary>What a candidate must beat to enter.</summary>
        private readonly float Bar => count < size ? float.NegativeInfinity : values[size - 1];

        private void Offer(float value, long index)
        {
            if (count == size && !(value > values[size - 1])) return;
            int at = count < size ? count++ : size - 1;
            while (at > 0 && value > values[at - 1])
            {
                values[at] = values[at - 1];
                indices[at] = indices[at - 1];
                at--;
            }
            values[at] = value;
            indices[at] = index;
        }

        /// <summary>A live beam: candidates s + l[w], w = 0 … V − 1, at indices first + w. Vectors of 16 are only looked at
        /// one by one when one of them beats the bar.</summary>
        public void OfferLive(float* l, float s, int vocab, long first)
        {
            int w = 0;
            if (Vector512.IsHardwareAccelerated)
            {
                var shift = Vector512.Create(s);
                for (; w + 16 <= vocab; w += 16)
                {
                    var candidates = shift + Vector512.Load(l + w);
                    if (!Vector512.GreaterThanAny(candidates, Vector512.Create(Bar))) continue;
                    for (int lane = 0; lane < 16; lane++) Offer(s + l[w + lane], first + w + lane);
                }
            }
            for (; w < vocab; w++) Offer(s + l[w], first + w);
        }

        /// <summary>A finished beam: EOS at s, every other word at <see cref="Finished"/>, in index order.</summary>
        public void OfferFinished(float s, int vocab, long eosRow, long first)
        {
            int w = 0;
            for (; w < vocab && Finished > Bar; w++) Offer(w == eosRow ? s : Finished, first + w);   // only while Finished can enter
            if (eosRow >= w) Offer(s, first + eosRow);
        }
    }
}
