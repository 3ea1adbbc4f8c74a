// Port of uniperceiver/modeling/decode_strategy/caption_beam_searcher_v3.py CaptionBeamSearcherV3, with a K/V cache.
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
/// [B·beam]-row step with the ids each would get alone. An input whose beams have all ended leaves the batch: the
/// remaining steps would only append EOS to it, as the reference's masked arithmetic does, so its result is final and
/// later passes compute only the inputs still decoding. Once every input has ended, the search stops there.
/// </summary>
public static class CaptionBeamSearcher
{
    /// <summary>Captions a batch of visual inputs pixels [B, T, 3, S, S]; one result per input. See
    /// <see cref="DecodeFromPrefix"/> for <c>final</c>.</summary>
    public static IReadOnlyList<CaptionResult> Decode(UniPerceiverRunner runner, Tensor pixels, VocabularyBank bank,
        CaptionOptions options, Action<CaptionStepTrace>? trace = null, CancellationToken cancellation = default,
        Action<int, CaptionResult>? final = null) =>
        Decode(runner, pixels, MoeAttribute.CaptionVisual, bank, options, trace, cancellation, final);

    /// <summary>Captions pixels [B, T, 3, S, S] whose visual prefix is routed by <paramref name="visualAttribute"/> (the
    /// caller's route tag; the reference's caption row 0 is <see cref="MoeAttribute.CaptionVisual"/>).</summary>
    public static IReadOnlyList<CaptionResult> Decode(UniPerceiverRunner runner, Tensor pixels, MoeAttribute visualAttribute, VocabularyBank bank,
        CaptionOptions options, Action<CaptionStepTrace>? trace = null, CancellationToken cancellation = default,
        Action<int, CaptionResult>? final = null)
    {
        options.Validate();
        using var _ = no_grad();
        var prefix = EncodePrefix(runner, pixels, visualAttribute);
        try
        {
            return DecodeFromPrefix(runner, prefix, bank, options, trace, cancellation, final);
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

    /// <summary>Beam search from an already encoded prefix (per-layer K/V [B, H, P, hd], not consumed). When given,
    /// <paramref name="final"/> is told each input's result (its index in the batch, the result) exactly once, as soon
    /// as it is final: an input whose beams have all ended is told at that step, before its pass, while the others still
    /// decode (live streams deliver its caption then); the rest are told as the search ends, before it returns. It runs
    /// on the decoding thread; tensors it makes are its own (no dispose scope of the search keeps them); it must be
    /// quick, and an exception from it fails the search.</summary>
    public static IReadOnlyList<CaptionResult> DecodeFromPrefix(UniPerceiverRunner runner, IReadOnlyList<LayerKv> prefix,
        VocabularyBank bank, CaptionOptions options, Action<CaptionStepTrace>? trace = null, CancellationToken cancellation = default,
        Action<int, CaptionResult>? final = null)
    {
        using var _ = no_grad();
        using var serial = SerialTorchOps.Enter();              // a step's small libtorch ops: no OpenMP regions
        var state = new CaptionBeamState(runner, prefix, bank, options, final);
        try
        {
            for (int t = 0; t < options.MaxLength; t++)
            {
                cancellation.ThrowIfCancellationRequested();
                state.Step(t, trace);
                if (state.Ended) break;
            }
            return state.Finish();
        }
        finally
        {
            state.Dispose();
        }
    }
}
