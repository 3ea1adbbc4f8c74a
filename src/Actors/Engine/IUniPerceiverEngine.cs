using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.Model.Tokenization;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Engine;

/// <summary>
/// The public surface of an engine: the tasks, the tokenizer and the counters. <see cref="UniPerceiverEngine"/>
/// implements it; host apps (Akka.Hosting, Microsoft.Extensions.Hosting) get it from dependency injection and the
/// Akka.Streams flows (UniPerceiverMoe.Streams.EngineFlows) are built on it. Thread-safe. Pixel tensors are
/// preprocessed inputs ([3, S, S], [T, 3, S, S], or [B, T, 3, S, S] for batches); the engine never takes ownership
/// of them, and the caller keeps them alive until the returned task completes.
/// </summary>
public interface IUniPerceiverEngine
{
    /// <summary>The engine's name: the prefix of its actors' names, unique within one actor system.</summary>
    string Name { get; }

    /// <summary>The CLIP tokenizer the engine encodes targets and decodes captions with.</summary>
    ClipTokenizer Tokenizer { get; }

    /// <summary>This engine's counters (each engine has its own).</summary>
    EngineCounters Counters { get; }

    /// <summary>Captions one image or clip with the reference beam search; the result carries the decoded text.</summary>
    Task<EngineCaption> CaptionAsync(Tensor pixels, CaptionOptions? options = null, VocabularyBank? restrictTo = null,
        CancellationToken cancellation = default);

    /// <summary>Captions several clips [B, T, 3, S, S] in one batched beam search; one result per clip, in order.</summary>
    Task<IReadOnlyList<EngineCaption>> CaptionBatchAsync(Tensor clips, CaptionOptions? options = null, CancellationToken cancellation = default);

    /// <summary>
    /// Runs one forward of inputs that share <paramref name="tag"/> and dispatches by it: the tag's attribute routes the
    /// inputs' tokens (it is what the expert groups are asked under), the tag's head decides what is computed on top.
    /// <paramref name="inputs"/>: clips [B, T, 3, S, S] (not consumed) for visual tags, or <paramref name="texts"/> for
    /// text tags (exactly one of the two). One result per input, in order.
    /// </summary>
    Task<TaggedResult> RunTaggedAsync(RouteTag tag, Tensor? inputs, IReadOnlyList<string>? texts = null, CaptionOptions? options = null,
        CancellationToken cancellation = default);

    /// <summary>
    /// <see cref="RunTaggedAsync"/> for clips [B, T, 3, S, S] (not consumed) under a caption tag, handing each clip's
    /// caption to <paramref name="captioned"/> (its index in the batch, its caption) as soon as it is final: a clip whose
    /// beams have all ended is handed over while the batch's longer captions still decode. Called at most once per clip,
    /// and for every clip before the task completes successfully (a failed or cancelled forward may have handed over some),
    /// on the engine's decoding thread: it must be quick and must not throw (an exception fails the forward). The task's
    /// result still carries every caption. This default hands them over once the whole forward is done; the engine
    /// itself hands them over early.
    /// </summary>
    async Task<TaggedResult> RunTaggedCaptionsAsync(RouteTag tag, Tensor clips, Action<int, EngineCaption> captioned, CaptionOptions? options = null,
        CancellationToken cancellation = default)
    {
        CheckCaptionForward(tag, clips, captioned);
        var result = await RunTaggedAsync(tag, clips, null, options, cancellation).ConfigureAwait(false);
        var captions = result.Captions ?? throw new InvalidOperationException($"a caption forward under {tag} returned no captions.");
        for (int i = 0; i < captions.Count; i++) captioned(i, captions[i]);
        return result;
    }

    /// <summary>The arguments every <see cref="RunTaggedCaptionsAsync"/> checks before it runs.</summary>
    internal static void CheckCaptionForward(RouteTag tag, Tensor clips, Action<int, EngineCaption> captioned)
    {
        ArgumentNullException.ThrowIfNull(clips);
        ArgumentNullException.ThrowIfNull(captioned);
        if (tag.Head != RouteHead.Caption) throw new ArgumentException($"route tag {tag} does not caption: use RunTaggedAsync.", nameof(tag));
    }

    /// <summary>Normalised features of <paramref name="texts"/> as targets of <paramref name="task"/> (class names or
    /// retrieval targets; computed once per list and cached) with the temperature <paramref name="scoredAs"/> scores them by.</summary>
    Task<TextTargets> TextTargetsAsync(IReadOnlyList<string> texts, EmbedTask task, EmbedTask scoredAs, CancellationToken cancellation = default);

    /// <summary>Zero-shot classification of an image, image views, a clip or clip views against <paramref name="labels"/>.</summary>
    Task<ClassificationResult> ClassifyAsync(Tensor views, IReadOnlyList<string> labels, bool video, CancellationToken cancellation = default);

    /// <summary>Ranks <paramref name="texts"/> for one image or clip.</summary>
    Task<RetrievalResult> RetrieveTextsAsync(Tensor pixels, IReadOnlyList<string> texts, CancellationToken cancellation = default);

    /// <summary>Ranks named visual items (each [T, 3, S, S]) for a text query.</summary>
    Task<RetrievalResult> RetrieveVisualsAsync(string text, IReadOnlyList<(string Name, Tensor Pixels)> visuals, CancellationToken cancellation = default);

    /// <summary>Normalised feature [1, D] of a visual input for a visual <paramref name="task"/>. Caller owns it.</summary>
    Task<Tensor> EmbedVisualAsync(Tensor pixels, EmbedTask task, CancellationToken cancellation = default);

    /// <summary>Normalised feature [1, D] of a text for a text <paramref name="task"/>. Caller owns it.</summary>
    Task<Tensor> EmbedTextAsync(string text, EmbedTask task, CancellationToken cancellation = default);
}

/// <summary>
/// One input's caption: every beam (best first) with its text, decoded once by the engine. <see cref="Text"/> and
/// <see cref="Ids"/> are the best beam's; ids stop before the first end-of-text.
/// </summary>
public sealed record EngineCaption(CaptionResult Result, IReadOnlyList<string> BeamTexts)
{
    public CaptionBeam Best => Result.Best;
    public IReadOnlyList<CaptionBeam> Beams => Result.Beams;
    /// <summary>The best caption's text (trimmed).</summary>
    public string Text => BeamTexts[0];
    /// <summary>The best caption's token ids up to (not including) end-of-text.</summary>
    public long[] Ids => Result.Best.Tokens;
    public float Score => Result.Best.Score;

    /// <summary>Decodes every beam of <paramref name="result"/> with <paramref name="tokenizer"/>.</summary>
    public static EngineCaption Decode(CaptionResult result, ClipTokenizer tokenizer) =>
        new(result, result.Beams.Select(b => tokenizer.Decode(b.Tokens.Select(id => (int)id)).Trim()).ToArray());
}
