// Port of uniperceiver/modeling/decode_strategy/caption_beam_searcher_v3.py CaptionBeamSearcherV3, with a K/V cache.
using TorchSharp;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Decoding;

/// <summary>
/// Beam search exactly as the reference: the visual prefix [spe; patches] is encoded once (caption row-0 attribute)
/// and its per-layer keys/values kept; at step t a &lt;|spe|&gt; query at text position t (row-1 attribute) attends to
/// the prefix and the words chosen so far, its feature is scored τ·cos against the vocabulary bank, beams are
/// selected by cumulative log-prob (finished beams may only continue with EOS at no cost), then the chosen words are
/// encoded at position t and their keys/values appended. The reference recomputes history K/V from stored layer
/// inputs at every step; caching K/V is the same arithmetic done once.
/// </summary>
public static class CaptionBeamSearcher
{
    private const float Finished = -999f;

    /// <summary>Captions a batch of visual inputs pixels [B, T, 3, S, S]; one result per input.</summary>
    public static IReadOnlyList<CaptionResult> Decode(UniPerceiverRunner runner, Tensor pixels, VocabularyBank bank,
        CaptionOptions options, Action<CaptionStepTrace>? trace = null, CancellationToken cancellation = default)
    {
        options.Validate();
        using var _ = no_grad();
        LayerKv[] prefix;
        using (var x = runner.EmbedVisual(pixels))
        using (var encoded = runner.Encode(x, TokenRouting.Uniform((int)x.shape[1], MoeAttribute.CaptionVisual), captureKv: true))
            prefix = encoded.DetachKv();
        try
        {
            return DecodeFromPrefix(runner, prefix, bank, options, trace, cancellation);
        }
        finally
        {
            foreach (var kv in prefix) kv.Dispose();
        }
    }

    /// <summary>Beam search from an already encoded prefix (per-layer K/V [B, H, P, hd], not consumed).</summary>
    public static IReadOnlyList<CaptionResult> DecodeFromPrefix(UniPerceiverRunner runner, IReadOnlyList<LayerKv> prefix,
        VocabularyBank bank, CaptionOptions options, Action<CaptionStepTrace>? trace = null, CancellationToken cancellation = default)
    {
        using var _ = no_grad();
        var state = new BeamState(runner, prefix, bank, options);
        try
        {
            for (int t = 0; t < options.MaxLength; t++)
            {
                cancellation.ThrowIfCancellationRequested();
                state.Step(t, trace);
            }
            return state.Finish();
        }
        finally
        {
            state.Dispose();
        }
    }

    /// <summary>Mutable search state; owns every tensor it holds.</summary>
    private sealed class BeamState : IDisposable
    {
        private readonly UniPerceiverRunner runner;
        private readonly IReadOnlyList<LayerKv> prefix;
        private readonly VocabularyBank bank;
        private readonly CaptionOptions options;
        private readonly int batch;
        private readonly int beam;
        private readonly long eosRow;
        private readonly float tau;
        private readonly Tensor bankT;            // [D, V]
        private readonly Tensor bankIds;          // [V] row → token id
        private Tensor seqLogprob;                // [B, cur, 1]
        private Tensor seqMask;                   // [B, beam, 1] 1 = live, 0 = finished
        private Tensor? selectedWords;            // [B, beam] bank rows chosen at the last step
        private Tensor? outputs;                  // [B, beam, t] bank rows
        private Tensor? logProbs;                 // [B, beam, t] per-token log-probs (0 after EOS)
        private LayerKv[]? generated;             // per layer [B·beam, H, t, hd]

        public BeamState(UniPerceiverRunner runner, IReadOnlyList<LayerKv> prefix, VocabularyBank bank, CaptionOptions options)
        {
            this.runner = runner;
            this.prefix = prefix;
            this.bank = bank;
            this.options = options;
            batch = (int)prefix[0].K.shape[0];
            beam = options.BeamSize;
            eosRow = Array.IndexOf(bank.Ids, options.EosId);
            // Finished beams may only continue with EOS: a bank without it (a subset that forgot it) cannot end captions.
            if (eosRow < 0)
                throw new ArgumentException($"the vocabulary bank ({bank.Count} words) does not contain the end id {options.EosId}; " +
                    "a constrained bank must include it.", nameof(bank));
            tau = runner.Model.Head.Temperature(options.Temperature);
            var device = runner.Device;
            using (var rows = bank.Rows.to(device)) bankT = rows.t();
            bankIds = tensor(bank.Ids, device: device);
            seqLogprob = zeros(batch, 1, 1, device: device);
            seqMask = ones(batch, beam, 1, device: device);
        }

        public void Step(int t, Action<CaptionStepTrace>? trace)
        {
            using var scope = NewDisposeScope();
            var device = runner.Device;
            int cur = t == 0 ? 1 : beam;
            int rows = batch * cur;
            long vocab = bank.Count;
            var position = tensor(new long[] { t }, device: device);

            // 1. The query pass: <|spe|> at position t attends to prefix + chosen words.
            var query = runner.EmbedTokens(TorchScalar.Use(UniPerceiverRunner.SpeId, spe => full(rows, 1, spe, ScalarType.Int64, device: device)), position);
            var past = Past(cur);
            using var queryPass = runner.Encode(query, TokenRouting.Uniform(1, MoeAttribute.CaptionText),
                keepLayerInputs: trace is not null, past: past);
            foreach (var kv in past) kv.Dispose();
            var feature = runner.Model.Head.Project(queryPass.Final.squeeze(1));                 // [rows, D]
            var logprob = TorchScalar.Use(tau, s => feature.matmul(bankT).mul_(s)).log_softmax(-1);                    // [rows, V]
            var wordLogprob = logprob.view(batch, cur, vocab);
            var candidate = seqLogprob.Plus(wordLogprob);                                           // [B, cur, V]

            if (t > 0)
            {
                // A beam whose last word was EOS is finished: its words cost 0 and only EOS may follow.
                var live = TorchScalar.Use(eosRow, eos => selectedWords!.view(batch, cur).ne(eos)).to_type(ScalarType.Float32).unsqueeze(-1);
                Swap(ref seqMask, seqMask * live);
                wordLogprob = wordLogprob * seqMask;
                var old = TorchScalar.Use(Finished, f => full(batch, cur, vocab, f, device: device));
                if (eosRow >= 0) old.narrow(2, eosRow, 1).copy_(seqLogprob.expand(batch, cur, 1));
                candidate = (seqMask * candidate).Plus(old * seqMask.neg().PlusInPlace(1));   // 1 − mask (exact: the mask is 0/1)
            }

            var (selectedLogprob, selectedIdx) = candidate.view(batch, -1).topk(beam);          // sorted, highest first
            var selectedBeam = TorchScalar.Use(vocab, v => selectedIdx.div(v, rounding_mode: RoundingMode.floor));       // [B, beam]
            var words = selectedIdx - TorchScalar.Use(vocab, v => selectedBeam.mul(v));                                    // [B, beam] bank rows

            Swap(ref seqLogprob, selectedLogprob.unsqueeze(-1));
            Swap(ref seqMask, seqMask.gather(1, selectedBeam.unsqueeze(-1)));
            var beamIndex = selectedBeam.unsqueeze(-1);
            var chosen = wordLogprob.gather(1, beamIndex.expand(batch, beam, vocab)).gather(2, words.unsqueeze(-1));
            ReplaceState(ref outputs, outputs is null ? words.unsqueeze(-1) : cat([outputs.gather(1, beamIndex.expand(-1, -1, outputs.shape[2])), words.unsqueeze(-1)], 2));
            ReplaceState(ref logProbs, logProbs is null ? chosen : cat([logProbs.gather(1, beamIndex.expand(-1, -1, logProbs.shape[2])), chosen], 2));
            ReplaceState(ref selectedWords, words);

            // 2. Reorder the generated-word cache to the surviving beams' histories.
            var sourceRows = TorchScalar.Use(cur, c => TorchScalar.Arange(batch, device).mul_(c)).unsqueeze(1).Plus(selectedBeam).view(-1);
            if (generated is not null)
                for (int l = 0; l < generated.Length; l++)
                {
                    var old = generated[l];
                    generated[l] = new LayerKv(old.K.index_select(0, sourceRows).DetachFromDisposeScope(), old.V.index_select(0, sourceRows).DetachFromDisposeScope());
                    old.Dispose();
                }

            // 3. The word pass: each chosen word at position t, attending to its beam's history + itself.
            var wordIds = bankIds.index_select(0, words.view(-1)).view(batch * beam, 1);
            var wordEmbedding = runner.EmbedTokens(wordIds, position);
            var wordPast = Past(beam);
            using var wordPass = runner.Encode(wordEmbedding, TokenRouting.Uniform(1, MoeAttribute.CaptionText),
                keepLayerInputs: trace is not null, captureKv: true, past: wordPast);
            foreach (var kv in wordPast) kv.Dispose();
            var added = wordPass.DetachKv();
            foreach (var kv in added)
            {
                kv.K.DetachFromDisposeScope();
                kv.V.DetachFromDisposeScope();
            }
            if (generated is null) generated = added;
            else
                for (int l = 0; l < generated.Length; l++)
                {
                    var old = generated[l];
                    generated[l] = new LayerKv(cat([old.K, added[l].K], 2).DetachFromDisposeScope(), cat([old.V, added[l].V], 2).DetachFromDisposeScope());
                    old.Dispose();
                    added[l].Dispose();
                }

            if (trace is not null)
                trace(new CaptionStepTrace(t, query.squeeze(1), LayerOutputs(queryPass), feature, logprob, LayerOutputs(wordPass)));
        }

        public IReadOnlyList<CaptionResult> Finish()
        {
            using var scope = NewDisposeScope();
            var ids = bankIds.index_select(0, outputs!.view(-1)).view(outputs.shape);          // [B, beam, T] token ids
            var score = seqLogprob;                                                            // [B, beam, 1]
            if (options.LengthPenalty > 0)
            {
                var steps = TorchScalar.Use(options.EosId, eos => ids.ne(eos)).sum(-1, keepdim: true, type: ScalarType.Float32);
                steps.PlusInPlace(1);
                score = seqLogprob / TorchScalar.Use(options.LengthPenalty, p => steps.pow(p));
            }
            var (sorted, order) = score.sort(1, descending: true);
            var sortedIds = ids.gather(1, order.expand(-1, -1, ids.shape[2])).cpu();
            var sortedLogProbs = logProbs!.gather(1, order.expand(-1, -1, ids.shape[2])).cpu();
            var scores = sorted.cpu();
            var results = new List<CaptionResult>(batch);
            for (int b = 0; b < batch; b++)
            {
                var beams = new List<CaptionBeam>(beam);
                for (int j = 0; j < beam; j++)
                {
                    var tokenLogProbs = sortedLogProbs[b, j].data<float>().ToArray();
                    beams.Add(new CaptionBeam(sortedIds[b, j].data<long>().ToArray(), tokenLogProbs,
                        tokenLogProbs.Sum(), scores[b, j, 0].item<float>(), options.EosId));
                }
                results.Add(new CaptionResult(beams));
            }
            return results;
        }

        /// <summary>Per layer: prefix K/V repeated for <paramref name="perInput"/> beams, then the generated words' K/V.</summary>
        private List<LayerKv> Past(int perInput)
        {
            var past = new List<LayerKv>(prefix.Count);
            for (int l = 0; l < prefix.Count; l++)
            {
                var pk = perInput == 1 ? prefix[l].K.alias() : prefix[l].K.repeat_interleave(perInput, 0);
                var pv = perInput == 1 ? prefix[l].V.alias() : prefix[l].V.repeat_interleave(perInput, 0);
                if (generated is null) past.Add(new LayerKv(pk, pv));
                else
                {
                    past.Add(new LayerKv(cat([pk, generated[l].K], 2), cat([pv, generated[l].V], 2)));
                    pk.Dispose();
                    pv.Dispose();
                }
            }
            return past;
        }

        private static Tensor LayerOutputs(EncodedSequence pass) =>
            stack(pass.LayerInputs!.Skip(1).Select(t => t.squeeze(1)).ToArray(), 0);                // [L, rows, D]

        /// <summary>Swaps a long-lived state tensor: keeps <paramref name="next"/> beyond the step scope, frees the old one.</summary>
        private static void Swap(ref Tensor field, Tensor next)
        {
            var old = field;
            field = next.DetachFromDisposeScope();
            if (!ReferenceEquals(old, field)) old.Dispose();
        }

        private static void ReplaceState(ref Tensor? field, Tensor next)
        {
            var old = field;
            field = next.DetachFromDisposeScope();
            if (old is not null && !ReferenceEquals(old, field)) old.Dispose();
        }

        public void Dispose()
        {
            bankT.Dispose();
            bankIds.Dispose();
            seqLogprob.Dispose();
            seqMask.Dispose();
            selectedWords?.Dispose();
            outputs?.Dispose();
            logProbs?.Dispose();
            if (generated is not null) foreach (var kv in generated) kv.Dispose();
        }
    }
}
