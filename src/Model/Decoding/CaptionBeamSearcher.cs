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
/// inputs at every step and runs two passes per step (words, then the next query); here K/V live in a cache (each
/// input's prefix read in place by all its beams, each beam's words found through an ancestor table) and the chosen
/// words of step t share one pass with the query of step t + 1 (a key bias keeps the word from seeing the query), so
/// each step reads the weights once. Rows of a batch never interact: B inputs decode as one
/// [B·beam]-row step with the ids each would get alone. Once every beam of every input has ended, the remaining steps
/// only append EOS, as the reference's masked arithmetic does, without running the encoder.
/// </summary>
public static class CaptionBeamSearcher
{
    private const float Finished = -999f;

    /// <summary>Captions a batch of visual inputs pixels [B, T, 3, S, S]; one result per input.</summary>
    public static IReadOnlyList<CaptionResult> Decode(UniPerceiverRunner runner, Tensor pixels, VocabularyBank bank,
        CaptionOptions options, Action<CaptionStepTrace>? trace = null, CancellationToken cancellation = default) =>
        Decode(runner, pixels, MoeAttribute.CaptionVisual, bank, options, trace, cancellation);

    /// <summary>Captions pixels [B, T, 3, S, S] whose visual prefix is routed by <paramref name="visualAttribute"/> (the
    /// caller's route tag; the reference's caption row 0 is <see cref="MoeAttribute.CaptionVisual"/>).</summary>
    public static IReadOnlyList<CaptionResult> Decode(UniPerceiverRunner runner, Tensor pixels, MoeAttribute visualAttribute, VocabularyBank bank,
        CaptionOptions options, Action<CaptionStepTrace>? trace = null, CancellationToken cancellation = default)
    {
        options.Validate();
        using var _ = no_grad();
        var prefix = EncodePrefix(runner, pixels, visualAttribute);
        try
        {
            return DecodeFromPrefix(runner, prefix, bank, options, trace, cancellation);
        }
        finally
        {
            foreach (var kv in prefix) kv.Dispose();
        }
    }

    /// <summary>The visual prefix of pixels [B, T, 3, S, S] routed by <paramref name="visualAttribute"/>: per-layer K/V
    /// [B, H, P, hd] for <see cref="DecodeFromPrefix"/>. The caller owns (and disposes) them.</summary>
    public static LayerKv[] EncodePrefix(UniPerceiverRunner runner, Tensor pixels, MoeAttribute visualAttribute)
    {
        using var x = runner.EmbedVisual(pixels);
        using var encoded = runner.Encode(x, TokenRouting.Uniform((int)x.size(1), visualAttribute), captureKv: true);
        return encoded.DetachKv();
    }

    /// <summary>Beam search from an already encoded prefix (per-layer K/V [B, H, P, hd], not consumed).</summary>
    public static IReadOnlyList<CaptionResult> DecodeFromPrefix(UniPerceiverRunner runner, IReadOnlyList<LayerKv> prefix,
        VocabularyBank bank, CaptionOptions options, Action<CaptionStepTrace>? trace = null, CancellationToken cancellation = default)
    {
        using var _ = no_grad();
        using var serial = SerialTorchOps.Enter();              // a step's small libtorch ops: no OpenMP regions
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
        private readonly Tensor bankRows;         // [V, D]
        private readonly Tensor bankIds;          // [V] row → token id
        private Tensor seqLogprob;                // [B, cur, 1]
        private Tensor seqMask;                   // [B, beam, 1] 1 = live, 0 = finished
        private Tensor? selectedWords;            // [B, beam] bank rows chosen at the last step
        private Tensor? outputs;                  // [B, beam, t] bank rows
        private Tensor? logProbs;                 // [B, beam, t] per-token log-probs (0 after EOS)
        private KvCache? cache;                   // each input's prefix, shared by its beams, and each beam's chosen words
        private Tensor? nextFeature;              // [B·beam, D] the next step's query feature, from the last pass
        private Tensor? nextQueryEmbedding;       // trace only: [B·beam, D]
        private Tensor? nextQueryLayers;          // trace only: [L, B·beam, D]
        private bool allFinished;                 // every beam of every input has ended: later steps need no pass

        public BeamState(UniPerceiverRunner runner, IReadOnlyList<LayerKv> prefix, VocabularyBank bank, CaptionOptions options)
        {
            this.runner = runner;
            this.prefix = prefix;
            this.bank = bank;
            this.options = options;
            batch = (int)prefix[0].K.size(0);
            beam = options.BeamSize;
            eosRow = Array.IndexOf(bank.Ids, options.EosId);
            // Finished beams may only continue with EOS: a bank without it (a subset that forgot it) cannot end captions.
            if (eosRow < 0)
                throw new ArgumentException($"the vocabulary bank ({bank.Count} words) does not contain the end id {options.EosId}; " +
                    "a constrained bank must include it.", nameof(bank));
            tau = runner.Model.Head.Temperature(options.Temperature);
            var device = runner.Device;
            bankRows = bank.Rows.to(device);
            bankIds = tensor(bank.Ids, device: device);
            seqLogprob = zeros(batch, 1, 1, device: device);
            seqMask = ones(batch, beam, 1, device: device);
        }

        /// <summary>
        /// Step t scores the query at position t, selects the beams, and then runs one encoder pass over
        /// [chosen word at t, &lt;|spe|&gt; at t + 1] per beam: the word attends to its history and itself (the reference's
        /// word pass of step t), the query to the history and the word and itself (the reference's query pass of step
        /// t + 1). Rows and positions are the reference's, and no token sees a later one, so each token computes what
        /// its own pass computed; the word's keys/values stay in the cache, the query's slot is overwritten next step.
        /// </summary>
        public void Step(int t, Action<CaptionStepTrace>? trace)
        {
            using var scope = NewDisposeScope();
            var device = runner.Device;
            int cur = t == 0 ? 1 : beam;
            long vocab = bank.Count;
            bool last = t == options.MaxLength - 1;

            Tensor feature, wordLogprob, logprob;
            Tensor? queryEmbedding = null, queryLayers = null;
            if (t == 0)
            {
                // The first query attends to the visual prefix only: one pass over B rows, no cache yet.
                using var position = tensor(new long[] { 0 }, device: device);
                queryEmbedding = runner.EmbedTokens(TorchScalar.Use(UniPerceiverRunner.SpeId, spe => full(batch, 1, spe, ScalarType.Int64, device: device)), position);
                var past = prefix.Select(kv => new LayerKv(kv.K.alias(), kv.V.alias())).ToList();
                using var queryPass = runner.Encode(queryEmbedding, TokenRouting.Uniform(1, MoeAttribute.CaptionText),
                    keepLayerInputs: trace is not null, past: past);
                foreach (var kv in past) kv.Dispose();
                feature = runner.Model.Head.Project(queryPass.Final.squeeze(1));                // [B, D]
                if (trace is not null) queryLayers = LayerOutputs(queryPass, 0);
                queryEmbedding = queryEmbedding.squeeze(1);
            }
            else
            {
                feature = Adopt(ref nextFeature);
                queryEmbedding = nextQueryEmbedding is null ? null : Adopt(ref nextQueryEmbedding);
                queryLayers = nextQueryLayers is null ? null : Adopt(ref nextQueryLayers);
            }

            if (allFinished)
            {
                // Every beam is finished: the reference's word log-probs are multiplied by a zero mask, so they are
                // 0 whatever the model says, and the selection below does not depend on them.
                logprob = zeros(batch * cur, vocab, device: device);
                wordLogprob = logprob.view(batch, cur, vocab);
            }
            else
            {
                logprob = TorchScalar.Use(tau, s => Linears.Apply(feature!, bankRows, null, bank.RowPanels).mul_(s)).log_softmax(-1);  // [rows, V]
                wordLogprob = logprob.view(batch, cur, vocab);
            }
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
            ReplaceState(ref outputs, outputs is null ? words.unsqueeze(-1) : cat([outputs.gather(1, beamIndex.expand(-1, -1, outputs.size(2))), words.unsqueeze(-1)], 2));
            ReplaceState(ref logProbs, logProbs is null ? chosen : cat([logProbs.gather(1, beamIndex.expand(-1, -1, logProbs.size(2))), chosen], 2));
            ReplaceState(ref selectedWords, words);
            // Finished from the next step on: ended before (mask 0) or ended now (EOS chosen). A traced search keeps
            // running the passes, so that every step's trace shows what the model computes.
            if (trace is null)
            {
                var stillLive = seqMask.squeeze(-1) * TorchScalar.Use(eosRow, eos => words.ne(eos)).to_type(ScalarType.Float32);
                allFinished = stillLive.sum().item<float>() == 0;
            }

            // The surviving beams continue their ancestors' words (the cache's ancestor table; no keys or values move).
            if (cache is null) cache = NewCache();
            else
            {
                using var sourceRows = TorchScalar.Use(cur, c => TorchScalar.Arange(batch, device).mul_(c)).unsqueeze(1).Plus(selectedBeam).view(-1).cpu();
                cache.Reorder(sourceRows.data<long>().ToArray());
            }

            Tensor? wordLayers = null;
            if (!allFinished && !last || trace is not null)
            {
                // The chosen word at t and, unless this is the last step, the next query at t + 1. At the last step
                // the word pass only serves the trace.
                int tokens = last ? 1 : 2;
                var wordIds = bankIds.index_select(0, words.view(-1)).view(batch * beam, 1);
                var ids = tokens == 1 ? wordIds
                    : cat([wordIds, TorchScalar.Use(UniPerceiverRunner.SpeId, spe => full(batch * beam, 1, spe, ScalarType.Int64, device: device))], 1);
                var positions = TorchScalar.Arange(tokens, device).PlusInPlace(t);
                var embedded = runner.EmbedTokens(ids, positions);                                     // [B·beam, tokens, D]
                using var bias = tokens == 1 ? null : WordCannotSeeQuery(cache.KeyCount + tokens, device);
                // Of the word only its keys and values are read again, so the last layer computes the query alone
                // (a traced search keeps the word's output: the trace shows it).
                TokenSpan? output = tokens == 2 && trace is null ? new TokenSpan(1, 1) : null;
                using var pass = runner.Encode(embedded, TokenRouting.Uniform(tokens, MoeAttribute.CaptionText), bias,
                    keepLayerInputs: trace is not null, cache: cache, outputTokens: output);
                cache.Length += 1;                                                                      // keep the word, drop the query
                if (trace is not null) wordLayers = LayerOutputs(pass, 0);
                if (tokens == 2)
                {
                    using var query = pass.Final.select(1, output is null ? 1 : 0);
                    nextFeature = runner.Model.Head.Project(query).DetachFromDisposeScope();           // [B·beam, D]
                    if (trace is not null)
                    {
                        nextQueryEmbedding = embedded.select(1, 1).contiguous().DetachFromDisposeScope();
                        nextQueryLayers = LayerOutputs(pass, 1).DetachFromDisposeScope();
                    }
                }
            }
            else if (!last) nextFeature = zeros(batch * beam, runner.Model.Config.Hidden, device: device).DetachFromDisposeScope();  // unused once all finished

            if (trace is not null)
                trace(new CaptionStepTrace(t, queryEmbedding!, queryLayers!, feature, logprob, wordLayers!));
        }

        public IReadOnlyList<CaptionResult> Finish()
        {
            using var scope = NewDisposeScope();
            var ids = bankIds.index_select(0, outputs!.view(-1)).view(TensorShapes.Of(outputs));          // [B, beam, T] token ids
            var score = seqLogprob;                                                            // [B, beam, 1]
            if (options.LengthPenalty > 0)
            {
                var steps = TorchScalar.Use(options.EosId, eos => ids.ne(eos)).sum(-1, keepdim: true, type: ScalarType.Float32);
                steps.PlusInPlace(1);
                score = seqLogprob / TorchScalar.Use(options.LengthPenalty, p => steps.pow(p));
            }
            var (sorted, order) = score.sort(1, descending: true);
            var sortedIds = ids.gather(1, order.expand(-1, -1, ids.size(2))).cpu();
            var sortedLogProbs = logProbs!.gather(1, order.expand(-1, -1, ids.size(2))).cpu();
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

        /// <summary>Additive bias [1, 1, 2, keys]: the word (query row 0) must not see the next query's key (the last).</summary>
        private static Tensor WordCannotSeeQuery(int keys, Device device)
        {
            var bias = zeros(1, 1, 2, keys, device: device);
            using var wordRowLastKey = bias.narrow(2, 0, 1).narrow(3, keys - 1, 1);
            TorchScalar.Use(float.NegativeInfinity, inf => wordRowLastKey.fill_(inf));
            return bias;
        }

        /// <summary>A cache of B·beam rows whose beams read their input's visual keys/values in place (not copied).</summary>
        private KvCache NewCache() => new(prefix, beam, options.MaxLength + 1);

        /// <summary>A tensor kept from the last step, as a handle in the current step's dispose scope (the kept one is released).</summary>
        private static Tensor Adopt(ref Tensor? field)
        {
            var kept = field ?? throw new InvalidOperationException("the previous step left no query for this step.");
            field = null;
            using (kept) return kept.alias();
        }

        /// <summary>[L, rows, D]: every layer's output for token <paramref name="token"/> of a pass.</summary>
        private static Tensor LayerOutputs(EncodedSequence pass, int token) =>
            stack(pass.LayerInputs!.Skip(1).Select(t => t.select(1, token)).ToArray(), 0);

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
            bankRows.Dispose();
            bankIds.Dispose();
            seqLogprob.Dispose();
            seqMask.Dispose();
            selectedWords?.Dispose();
            outputs?.Dispose();
            logProbs?.Dispose();
            cache?.Dispose();
            nextFeature?.Dispose();
            nextQueryEmbedding?.Dispose();
            nextQueryLayers?.Dispose();
        }
    }
}
