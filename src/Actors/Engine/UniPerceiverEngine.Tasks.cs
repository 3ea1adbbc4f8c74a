using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Tasks;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Engine;

/// <summary>The task API of the engine. Pixel tensors are preprocessed inputs [T, 3, S, S] (one clip) or
/// [V, T, 3, S, S] (views, for classification); the engine does not take ownership of them.</summary>
public sealed partial class UniPerceiverEngine
{
    /// <summary>The vocabulary bank (built once per checkpoint and cached on disk; loaded on first use).</summary>
    public Task<VocabularyBank> VocabularyBankAsync() => bank.Value;

    /// <summary>Captions one image or clip with the reference beam search; the beams' texts are decoded here, once.</summary>
    public async Task<EngineCaption> CaptionAsync(Tensor pixels, CaptionOptions? options = null, VocabularyBank? restrictTo = null,
        CancellationToken cancellation = default)
    {
        options ??= new CaptionOptions();
        var vocabulary = restrictTo ?? await VocabularyBankAsync().ConfigureAwait(false);
        using var batch = AsBatch(pixels);
        var result = await RunAsync(r => CaptionBeamSearcher.Decode(r, batch, vocabulary, options, cancellation: cancellation)[0],
            "caption", cancellation).ConfigureAwait(false);
        return EngineCaption.Decode(result, Tokenizer);
    }

    /// <summary>Captions several clips [B, T, 3, S, S] in one batched beam search (cross-stream micro-batching).</summary>
    public async Task<IReadOnlyList<EngineCaption>> CaptionBatchAsync(Tensor clips, CaptionOptions? options = null, CancellationToken cancellation = default)
    {
        options ??= new CaptionOptions();
        var vocabulary = await VocabularyBankAsync().ConfigureAwait(false);
        var results = await RunAsync(r => CaptionBeamSearcher.Decode(r, clips, vocabulary, options, cancellation: cancellation), "caption batch", cancellation)
            .ConfigureAwait(false);
        return results.Select(r => EngineCaption.Decode(r, Tokenizer)).ToArray();
    }

    /// <summary>Runs one tagged forward and dispatches by the tag (see <see cref="IUniPerceiverEngine.RunTaggedAsync"/>).</summary>
    public async Task<TaggedResult> RunTaggedAsync(RouteTag tag, Tensor? inputs, IReadOnlyList<string>? texts = null, CaptionOptions? options = null,
        CancellationToken cancellation = default)
    {
        if ((inputs is null) == (texts is null)) throw new ArgumentException($"a tagged forward ({tag}) takes either pixels or texts, not {(inputs is null ? "neither" : "both")}.");
        switch (tag.Head)
        {
            case RouteHead.Caption when inputs is not null:
                return await CaptionTaggedAsync(tag, inputs, null, options, cancellation).ConfigureAwait(false);
            case RouteHead.Features when inputs is not null:
            {
                using var clips = AsBatch(inputs);
                var rows = await RunAsync(r =>
                {
                    using var features = UniPerceiverTasks.VisualFeatures(r, clips, tag.Attribute);
                    return UniPerceiverTasks.Rows(features);
                }, $"encode {tag}", cancellation).ConfigureAwait(false);
                return new TaggedResult(tag, null, rows);
            }
            case RouteHead.Features:
            {
                if (texts!.Count == 0) throw new ArgumentException("no texts to encode.");
                var ids = texts.Select(t => (IReadOnlyList<int>)Tokenizer.EncodeForTarget(t, UniPerceiverTasks.MaxTargetTokens)).ToArray();
                var rows = await RunAsync(r =>
                {
                    using var features = UniPerceiverTasks.TextFeatures(r, ids, tag.Attribute);
                    return UniPerceiverTasks.Rows(features);
                }, $"encode {tag}", cancellation).ConfigureAwait(false);
                return new TaggedResult(tag, null, rows);
            }
            default:
                throw new ArgumentException($"route tag {tag} has no head for texts (captions are of pixels).");
        }
    }

    /// <summary>Runs one caption forward and hands each clip's caption over as soon as it is final (see
    /// <see cref="IUniPerceiverEngine.RunTaggedCaptionsAsync"/>).</summary>
    public Task<TaggedResult> RunTaggedCaptionsAsync(RouteTag tag, Tensor clips, Action<int, EngineCaption> captioned, CaptionOptions? options = null,
        CancellationToken cancellation = default)
    {
        IUniPerceiverEngine.CheckCaptionForward(tag, clips, captioned);
        return CaptionTaggedAsync(tag, clips, captioned, options, cancellation);
    }

    /// <summary>One batched beam search under <paramref name="tag"/>'s attribute; each caption's text is decoded once,
    /// when its input's result is final (and handed to <paramref name="captioned"/> then).</summary>
    private async Task<TaggedResult> CaptionTaggedAsync(RouteTag tag, Tensor inputs, Action<int, EngineCaption>? captioned, CaptionOptions? options,
        CancellationToken cancellation)
    {
        options ??= new CaptionOptions();
        var vocabulary = await VocabularyBankAsync().ConfigureAwait(false);
        using var clips = AsBatch(inputs);
        var captions = new EngineCaption[clips.size(0)];
        await RunAsync(r => CaptionBeamSearcher.Decode(r, clips, tag.Attribute, vocabulary, options, cancellation: cancellation, final: (i, result) =>
        {
            captions[i] = EngineCaption.Decode(result, Tokenizer);
            captioned?.Invoke(i, captions[i]);
        }), $"caption {tag}", cancellation).ConfigureAwait(false);
        return new TaggedResult(tag, captions, null);
    }

    /// <summary>Target features of <paramref name="texts"/> (cached per list) and the temperature of <paramref name="scoredAs"/>.</summary>
    public async Task<TextTargets> TextTargetsAsync(IReadOnlyList<string> texts, EmbedTask task, EmbedTask scoredAs, CancellationToken cancellation = default)
    {
        if (!EmbedTasks.IsText(task)) throw new ArgumentException($"{EmbedTasks.Name(task)} embeds pixels, not texts.");
        if (texts.Count == 0) throw new ArgumentException("no texts given.");
        var features = await LabelFeaturesAsync(texts, task, cancellation).ConfigureAwait(false);
        float tau = await RunAsync(r => r.Model.Head.Temperature(EmbedTasks.Temperature(scoredAs)), "temperature", cancellation).ConfigureAwait(false);
        return new TextTargets(texts.ToArray(), UniPerceiverTasks.Rows(features), tau);
    }

    /// <summary>Zero-shot classification against <paramref name="labels"/> (class-name features cached per label set).</summary>
    public async Task<ClassificationResult> ClassifyAsync(Tensor views, IReadOnlyList<string> labels, bool video, CancellationToken cancellation = default)
    {
        if (labels.Count == 0) throw new ArgumentException("no labels given.");
        var features = await LabelFeaturesAsync(labels, EmbedTask.ClassNameTarget, cancellation).ConfigureAwait(false);
        // Images: [3, S, S] or views [V, 3, S, S]; videos: one clip [T, 3, S, S] or views [V, T, 3, S, S].
        using var batch = views.dim() switch
        {
            5 => views.alias(),
            4 => video ? views.unsqueeze(0) : views.unsqueeze(1),
            3 when !video => views.view([1, 1, .. views.shape]),
            _ => throw new ArgumentException($"classification input of shape [{string.Join(", ", views.shape)}] is not an image, image views, a clip or clip views."),
        };
        string temperature = EmbedTasks.Temperature(video ? EmbedTask.VideoClassification : EmbedTask.ImageClassification);
        return await RunAsync(r => UniPerceiverTasks.Classify(r, batch, features, labels, temperature), "classify", cancellation).ConfigureAwait(false);
    }

    /// <summary>Ranks <paramref name="texts"/> (retrieval targets) for one image or clip.</summary>
    public async Task<RetrievalResult> RetrieveTextsAsync(Tensor pixels, IReadOnlyList<string> texts, CancellationToken cancellation = default)
    {
        var gallery = await LabelFeaturesAsync(texts, EmbedTask.RetrievalTarget, cancellation).ConfigureAwait(false);
        using var query = await EmbedVisualAsync(pixels, EmbedTask.ImageRetrieval, cancellation).ConfigureAwait(false);
        return UniPerceiverTasks.Rank(query, gallery, texts);
    }

    /// <summary>Ranks visual items (each [T, 3, S, S]) for a text query.</summary>
    public async Task<RetrievalResult> RetrieveVisualsAsync(string text, IReadOnlyList<(string Name, Tensor Pixels)> visuals, CancellationToken cancellation = default)
    {
        if (visuals.Count == 0) throw new ArgumentException("no visual items given.");
        using var query = await EmbedTextAsync(text, EmbedTask.RetrievalTarget, cancellation).ConfigureAwait(false);
        var features = new List<Tensor>();
        try
        {
            foreach (var (_, pixels) in visuals) features.Add(await EmbedVisualAsync(pixels, EmbedTask.ImageRetrieval, cancellation).ConfigureAwait(false));
            using var gallery = cat(features, 0);
            return UniPerceiverTasks.Rank(query, gallery, visuals.Select(v => v.Name).ToArray());
        }
        finally
        {
            foreach (var f in features) f.Dispose();
        }
    }

    /// <summary>Normalised feature [1, D] of a visual input for <paramref name="task"/>. Caller owns it.</summary>
    public Task<Tensor> EmbedVisualAsync(Tensor pixels, EmbedTask task, CancellationToken cancellation = default)
    {
        if (EmbedTasks.IsText(task)) throw new ArgumentException($"{EmbedTasks.Name(task)} embeds text, not pixels.");
        var batch = AsBatch(pixels);
        return RunAsync(r =>
        {
            using (batch) return UniPerceiverTasks.VisualFeatures(r, batch, EmbedTasks.Attribute(task));
        }, "embed", cancellation);
    }

    /// <summary>Normalised feature [1, D] of <paramref name="text"/> as a target (text + " &lt;|endoftext|&gt;"). Caller owns it.</summary>
    public Task<Tensor> EmbedTextAsync(string text, EmbedTask task, CancellationToken cancellation = default)
    {
        if (!EmbedTasks.IsText(task)) throw new ArgumentException($"{EmbedTasks.Name(task)} embeds pixels, not text.");
        var ids = Tokenizer.EncodeForTarget(text, UniPerceiverTasks.MaxTargetTokens);
        return RunAsync(r => UniPerceiverTasks.TextFeatures(r, [ids], EmbedTasks.Attribute(task)), "embed text", cancellation);
    }

    /// <summary>Cached normalised target features [n, D] of a label/caption list (owned by the engine).</summary>
    private Task<Tensor> LabelFeaturesAsync(IReadOnlyList<string> labels, EmbedTask task, CancellationToken cancellation)
    {
        var ids = labels.Select(l => Tokenizer.EncodeForTarget(l, UniPerceiverTasks.MaxTargetTokens)).ToArray();
        string key = EmbedTasks.Name(task) + "\n" + string.Join("\n", labels);
        var lazy = labelFeatures.GetOrAdd(key, _ => new Lazy<Task<Tensor>>(() =>
            RunAsync(r => UniPerceiverTasks.TextFeatures(r, ids, EmbedTasks.Attribute(task)), "label features", cancellation)));
        var task2 = lazy.Value;
        if (task2.IsFaulted || task2.IsCanceled) labelFeatures.TryRemove(key, out _);
        return task2;
    }

    private static Tensor AsBatch(Tensor pixels) => pixels.dim() switch
    {
        3 => pixels.view([1, 1, .. pixels.shape]),
        4 => pixels.unsqueeze(0),
        5 => pixels.alias(),
        _ => throw new ArgumentException($"pixels must be [3, S, S], [T, 3, S, S] or [B, T, 3, S, S]; got [{string.Join(", ", pixels.shape)}]."),
    };
}
