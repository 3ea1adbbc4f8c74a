// The state of uniperceiver/modeling/decode_strategy/caption_beam_searcher_v3.py CaptionBeamSearcherV3, with a K/V cache.
using TorchSharp;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Decoding;

/// <summary>
/// <see cref="CaptionBeamSearcher"/>'s mutable state for one search: the beams' scores, masks, words and log-probs,
/// the key/value cache and the next query's feature, for the inputs still decoding (an input whose beams have all
/// ended leaves with its final result). Owns every tensor it holds.
/// </summary>
internal sealed class CaptionBeamState : IDisposable
{
    private readonly UniPerceiverRunner runner;
    private readonly IReadOnlyList<LayerKv> prefix;
    private readonly VocabularyBank bank;
    private readonly CaptionOptions options;
    private int batch;                        // inputs still decoded; position i is input liveInputs[i] of the call
    private int[] liveInputs;
    private readonly CaptionResult?[] results; // per input of the call: set when it leaves the batch, or at Finish
    private readonly Action<int, CaptionResult>? final; // told each input's result (call index) once it is set
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
    private bool allFinished;                 // every beam of every input has ended (untraced): the search stops

    /// <param name="final">Told each input's result (its index in the call, the result) once, as soon as it is final:
    /// when the input leaves the batch (before the step's pass), or at <see cref="Finish"/>.</param>
    public CaptionBeamState(UniPerceiverRunner runner, IReadOnlyList<LayerKv> prefix, VocabularyBank bank, CaptionOptions options,
        Action<int, CaptionResult>? final = null)
    {
        this.runner = runner;
        this.final = final;
        this.prefix = prefix;
        this.bank = bank;
        this.options = options;
        batch = (int)prefix[0].K.size(0);
        liveInputs = Enumerable.Range(0, batch).ToArray();
        results = new CaptionResult?[batch];
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

        Tensor feature, logprob;
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

        // Over a large bank and batch (16 rows × 49,411 words at B = 8) log_softmax pays for libtorch's OpenMP team; a row
        // is one task, so the bits are the serial ones.
        using (var logits = TorchScalar.Use(tau, s => Linears.Apply(feature!, bankRows, null, bank.RowPanels).mul_(s)))  // [rows, V]
        using (logits.numel() >= 1 << 18 ? SerialTorchOps.Lift() : default)
            logprob = logits.log_softmax(-1);
        Tensor? live = null;                                                                    // [B, cur, 1]; null: all live
        if (t > 0)
        {
            // A beam whose last word was EOS is finished: its words cost 0 and only EOS may follow.
            var notEos = TorchScalar.Use(eosRow, eos => selectedWords!.view(batch, cur).ne(eos)).to_type(ScalarType.Float32).unsqueeze(-1);
            Replace(ref seqMask, seqMask * notEos);
            live = seqMask;
        }
        var (selectedLogprob, selectedIdx) = BeamCandidates.Handles(logprob, seqLogprob, live)  // [B, beam], highest first
            ? BeamCandidates.TopK(logprob, seqLogprob, live, eosRow, beam)
            : BeamCandidates.TopKTensors(logprob, seqLogprob, live, eosRow, beam);
        var selectedBeam = TorchScalar.Use(vocab, v => selectedIdx.div(v, rounding_mode: RoundingMode.floor));       // [B, beam]
        var words = selectedIdx - TorchScalar.Use(vocab, v => selectedBeam.mul(v));                                    // [B, beam] bank rows
        // The chosen words' log-probs as the reference keeps them: its word log-probs times the mask (0 once finished).
        var chosen = logprob.view(batch, -1).gather(1, selectedIdx);                          // flat index beam·V + word
        if (live is not null) chosen = chosen * live.squeeze(-1).gather(1, selectedBeam);
        chosen = chosen.unsqueeze(-1);                                                          // [B, beam, 1]

        Replace(ref seqLogprob, selectedLogprob.unsqueeze(-1));
        Replace(ref seqMask, seqMask.gather(1, selectedBeam.unsqueeze(-1)));
        var beamIndex = selectedBeam.unsqueeze(-1);
        Replace(ref outputs, outputs is null ? words.unsqueeze(-1) : cat([outputs.gather(1, beamIndex.expand(-1, -1, outputs.size(2))), words.unsqueeze(-1)], 2));
        Replace(ref logProbs, logProbs is null ? chosen : cat([logProbs.gather(1, beamIndex.expand(-1, -1, logProbs.size(2))), chosen], 2));
        Replace(ref selectedWords, words);
        // Finished from the next step on: ended before (mask 0) or ended now (EOS chosen). A traced search keeps
        // running the passes, so that every step's trace shows what the model computes.
        float[]? liveBeams = null;                                                           // per input
        if (trace is null)
        {
            var stillLive = seqMask.squeeze(-1) * TorchScalar.Use(eosRow, eos => words.ne(eos)).to_type(ScalarType.Float32);
            liveBeams = stillLive.sum(1).cpu().data<float>().ToArray();
            allFinished = liveBeams.All(n => n == 0);
        }

        // The surviving beams continue their ancestors' words (the cache's ancestor table; no keys or values move).
        if (cache is null) cache = NewCache();
        else
        {
            using var sourceRows = TorchScalar.Use(cur, c => TorchScalar.Arange(batch, device).mul_(c)).unsqueeze(1).Plus(selectedBeam).view(-1).cpu();
            cache.Reorder(sourceRows.data<long>().ToArray());
        }
        // Inputs that ended leave the batch before the pass (a traced search keeps them: its trace shows every row).
        if (liveBeams is not null && !allFinished && !last && liveBeams.Contains(0f))
        {
            RetireEnded(Enumerable.Range(0, batch).Where(i => liveBeams[i] != 0).ToArray());
            words = selectedWords!;
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

        if (trace is not null)
            trace(new CaptionStepTrace(t, queryEmbedding!, queryLayers!, feature, logprob, wordLayers!));
    }

    /// <summary>Every beam of every input has ended (an untraced search): the later steps would only append EOS.</summary>
    public bool Ended => allFinished;

    /// <summary>Every input's result, in the call's order.</summary>
    public IReadOnlyList<CaptionResult> Finish()
    {
        var rest = Results(outputs!, logProbs!, seqLogprob);
        for (int i = 0; i < batch; i++) results[liveInputs[i]] = rest[i];
        TellFinal(liveInputs);
        return results.Select(r => r ?? throw new InvalidOperationException("an input was left without a result.")).ToArray();
    }

    /// <summary>
    /// After a step's selection: the inputs not at positions <paramref name="kept"/> have ended,
    /// so their results are final. Each later step would append EOS at no cost (log-prob 0, the beams' order and
    /// scores unchanged), and their results are those padded to <see cref="CaptionOptions.MaxLength"/>. The state
    /// and the cache keep only <paramref name="kept"/>.
    /// </summary>
    private void RetireEnded(int[] kept)
    {
        var ended = Enumerable.Range(0, batch).Except(kept).ToArray();
        using (var endedIndex = tensor(ended.Select(i => (long)i).ToArray(), device: runner.Device))
        using (var endedOutputs = outputs!.index_select(0, endedIndex))
        using (var endedLogProbs = logProbs!.index_select(0, endedIndex))
        using (var endedScores = seqLogprob.index_select(0, endedIndex))
        {
            var done = Results(endedOutputs, endedLogProbs, endedScores);
            for (int i = 0; i < ended.Length; i++) results[liveInputs[ended[i]]] = done[i];
        }
        TellFinal(ended.Select(i => liveInputs[i]).ToArray());
        using var keptIndex = tensor(kept.Select(i => (long)i).ToArray(), device: runner.Device);
        Replace(ref seqLogprob, seqLogprob.index_select(0, keptIndex));
        Replace(ref seqMask, seqMask.index_select(0, keptIndex));
        Replace(ref outputs, outputs.index_select(0, keptIndex));
        Replace(ref logProbs, logProbs.index_select(0, keptIndex));
        Replace(ref selectedWords, selectedWords!.index_select(0, keptIndex));
        cache!.RetainInputs(kept);
        liveInputs = kept.Select(i => liveInputs[i]).ToArray();
        batch = kept.Length;
    }

    /// <summary>Tells <c>final</c> of the results of <paramref name="inputs"/> (of the call), just set. It may run inside
    /// a step's dispose scope, so the callback runs in a scope of its own whose tensors are then detached: what it makes
    /// is its own.</summary>
    private void TellFinal(IEnumerable<int> inputs)
    {
        if (final is null) return;
        using var callers = NewDisposeScope();
        foreach (int input in inputs) final(input, results[input]!);
        callers.Detach(callers.DisposablesView.ToArray());
    }

    /// <summary>The results of n inputs from their chosen bank rows and per-token log-probs [n, beam, T] and their
    /// cumulative log-probs [n, beam, 1], each beam padded to <see cref="CaptionOptions.MaxLength"/> steps with EOS at
    /// log-prob 0 (what the steps it did not run would have appended).</summary>
    private List<CaptionResult> Results(Tensor chosenRows, Tensor chosenLogProbs, Tensor cumulative)
    {
        using var scope = NewDisposeScope();
        int inputs = (int)chosenRows.size(0), padSteps = options.MaxLength - (int)chosenRows.size(2);
        var ids = bankIds.index_select(0, chosenRows.view(-1)).view(TensorShapes.Of(chosenRows));          // [n, beam, T] token ids
        if (padSteps > 0)
        {
            ids = cat([ids, TorchScalar.Use(options.EosId, eos => full(inputs, beam, padSteps, eos, ScalarType.Int64, device: ids.device))], 2);
            chosenLogProbs = cat([chosenLogProbs, zeros(inputs, beam, padSteps, device: chosenLogProbs.device)], 2);
        }
        var score = cumulative;                                                             // [n, beam, 1]
        if (options.LengthPenalty > 0)
        {
            var steps = TorchScalar.Use(options.EosId, eos => ids.ne(eos)).sum(-1, keepdim: true, type: ScalarType.Float32);
            steps.PlusInPlace(1);
            score = cumulative / TorchScalar.Use(options.LengthPenalty, p => steps.pow(p));
        }
        var (sorted, order) = score.sort(1, descending: true);
        var sortedIds = ids.gather(1, order.expand(-1, -1, ids.size(2))).cpu();
        var sortedLogProbs = chosenLogProbs.gather(1, order.expand(-1, -1, ids.size(2))).cpu();
        var scores = sorted.cpu();
        var list = new List<CaptionResult>(inputs);
        for (int b = 0; b < inputs; b++)
        {
            var beams = new List<CaptionBeam>(beam);
            for (int j = 0; j < beam; j++)
            {
                var tokenLogProbs = sortedLogProbs[b, j].data<float>().ToArray();
                beams.Add(new CaptionBeam(sortedIds[b, j].data<long>().ToArray(), tokenLogProbs,
                    tokenLogProbs.Sum(), scores[b, j, 0].item<float>(), options.EosId));
            }
            list.Add(new CaptionResult(beams));
        }
        return list;
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

    /// <summary>Sets a state field (nullable or not) to <paramref name="next"/>, moved out of the step's dispose scope,
    /// and disposes what the field held unless that is <paramref name="next"/> itself.</summary>
    private static void Replace<T>(ref T field, Tensor next) where T : Tensor?
    {
        var old = field;
        field = (T)next.DetachFromDisposeScope();
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
