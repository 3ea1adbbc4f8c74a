using UniPerceiverMoe.Streams.Settings;
using Akka;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.Streams.Batching;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Streams.Flows;

/// <summary>Calls an engine with one batch of clips [B, T, 3, S, S] (not consumed); one caption per clip, in order.</summary>
public delegate Task<IReadOnlyList<EngineCaption>> BatchCaptioner(Tensor clips, CancellationToken cancellation);

/// <summary>One forward of clips [B, T, 3, S, S] (not consumed) that share <paramref name="tag"/>; one result per clip, in order.</summary>
public delegate Task<TaggedResult> TaggedBatchRunner(RouteTag tag, Tensor clips, CancellationToken cancellation);

/// <summary>A <see cref="TaggedBatchRunner"/> that, under a caption tag, also hands clip i's caption to
/// <c>captioned</c>(i, caption) as soon as it is final, possibly before the forward completes
/// (<see cref="IUniPerceiverEngine.RunTaggedCaptionsAsync"/>).</summary>
public delegate Task<TaggedResult> EarlyCaptionBatchRunner(RouteTag tag, Tensor clips, Action<int, EngineCaption> captioned,
    CancellationToken cancellation);

/// <summary>How one element of the batching stage (<c>EngineFlows.RunEach</c>) ended: exactly one of a result, an
/// error, or skipped (neither).</summary>
public sealed record Ran<T>(T Item, WindowResult? Result, Exception? Error)
{
    public bool Skipped => Result is null && Error is null;
}

/// <summary>How one element of a caption flow ended: exactly one of a caption, an error, or skipped (neither).</summary>
public sealed record Captioned<T>(T Item, EngineCaption? Caption, Exception? Error)
{
    public bool Skipped => Caption is null && Error is null;
}

/// <summary>
/// Akka.Streams stages over an <see cref="IUniPerceiverEngine"/> for host apps' own graphs. Every stage back-pressures
/// (at most <c>parallelism</c> engine calls in flight, each of at most <c>maxBatch</c> elements), emits in input order,
/// and never takes ownership of the tensors it is given: an element's pixels must stay alive until its result has
/// been emitted. Results the flows emit (embeddings) belong to the receiver. A failed engine call fails the stream,
/// except in <see cref="CaptionEach{T}"/> and <c>RunEach</c>, which report errors per element (the caption-stream hub
/// is built on <c>RunEach</c>).
/// <code>
/// var captions = frames.Via(engine.CaptionFlow(maxBatch: 8, maxDelay: TimeSpan.FromMilliseconds(20))).Select(c => c.Text);
/// </code>
/// </summary>
public static class EngineFlows
{
    /// <summary>Captions images [3, S, S] or clips [T, 3, S, S]; up to <paramref name="maxBatch"/> elements that arrive
    /// within <paramref name="maxDelay"/> share one batched beam search (elements of different shapes are captioned in
    /// separate calls), and up to <paramref name="parallelism"/> such calls run at once.</summary>
    public static Flow<Tensor, EngineCaption, NotUsed> CaptionFlow(this IUniPerceiverEngine engine, int parallelism = 1, int maxBatch = 1,
        TimeSpan maxDelay = default, CaptionOptions? options = null) =>
        engine.CaptionFlow<Tensor>(pixels => pixels, parallelism, maxBatch, maxDelay, options).Select(c => c.Caption);

    /// <summary><see cref="CaptionFlow(IUniPerceiverEngine, int, int, TimeSpan, CaptionOptions?)"/> with its knobs from
    /// upmoe.streams (max-batch, max-delay, batches-in-flight).</summary>
    public static Flow<Tensor, EngineCaption, NotUsed> CaptionFlow(this IUniPerceiverEngine engine, StreamSettings settings, CaptionOptions? options = null) =>
        engine.CaptionFlow(settings.BatchesInFlight, settings.MaxBatch, settings.MaxDelay, options);

    /// <summary>Captions any element that carries pixels (a frame with its metadata, a request with its reply
    /// address) and emits it with its caption, in input order, as soon as its caption and those before it are final
    /// (a short caption need not wait for the longest of its batch).</summary>
    public static Flow<T, (T Item, EngineCaption Caption), NotUsed> CaptionFlow<T>(this IUniPerceiverEngine engine, Func<T, Tensor> pixels,
        int parallelism = 1, int maxBatch = 1, TimeSpan maxDelay = default, CaptionOptions? options = null) =>
        CaptionEach<T>((tag, clips, captioned, cancellation) => engine.RunTaggedCaptionsAsync(tag, clips, captioned, options, cancellation),
                pixels, parallelism, maxBatch, maxDelay, ordered: true, skip: null)
            .Select(c => c.Error is { } error ? throw error : (c.Item, c.Caption!));

    /// <summary>Zero-shot classification of each element (an image, image views [V, 3, S, S], a clip, or clip views
    /// [V, T, 3, S, S] with <paramref name="video"/>) against <paramref name="labels"/>, whose features are computed once.</summary>
    public static Flow<Tensor, ClassificationResult, NotUsed> ClassifyFlow(this IUniPerceiverEngine engine, IReadOnlyList<string> labels,
        bool video = false, int parallelism = 1)
    {
        if (labels.Count == 0) throw new ArgumentException("no labels given.", nameof(labels));
        var fixedLabels = labels.ToArray();
        return Flow.Create<Tensor>().SelectAsync(Positive(parallelism, nameof(parallelism)), views => engine.ClassifyAsync(views, fixedLabels, video));
    }

    /// <summary>Normalised features [1, D] of visual inputs for a visual <paramref name="task"/> (classification,
    /// retrieval). The receiver owns (and disposes) each feature.</summary>
    public static Flow<Tensor, Tensor, NotUsed> EmbedFlow(this IUniPerceiverEngine engine, EmbedTask task, int parallelism = 1)
    {
        if (EmbedTasks.IsText(task)) throw new ArgumentException($"{EmbedTasks.Name(task)} embeds text: use EmbedTextFlow.", nameof(task));
        return Flow.Create<Tensor>().SelectAsync(Positive(parallelism, nameof(parallelism)), pixels => engine.EmbedVisualAsync(pixels, task));
    }

    /// <summary>Normalised features [1, D] of texts for a text <paramref name="task"/> (class names, retrieval
    /// targets). The receiver owns (and disposes) each feature.</summary>
    public static Flow<string, Tensor, NotUsed> EmbedTextFlow(this IUniPerceiverEngine engine, EmbedTask task, int parallelism = 1)
    {
        if (!EmbedTasks.IsText(task)) throw new ArgumentException($"{EmbedTasks.Name(task)} embeds pixels: use EmbedFlow.", nameof(task));
        return Flow.Create<string>().SelectAsync(Positive(parallelism, nameof(parallelism)), text => engine.EmbedTextAsync(text, task));
    }

    /// <summary>
    /// The caption flows' batching stage: <see cref="RunEach{T}"/> with every element tagged <see cref="RouteTag.Caption"/>
    /// and <paramref name="captioner"/> as the engine's caption head.
    /// </summary>
    public static Flow<T, Captioned<T>, NotUsed> CaptionEach<T>(BatchCaptioner captioner, Func<T, Tensor> pixels, int parallelism, int maxBatch,
        TimeSpan maxDelay, bool ordered, Func<T, bool>? skip = null) =>
        CaptionEach<T>(async (tag, clips, _, cancellation) => new TaggedResult(tag, await captioner(clips, cancellation).ConfigureAwait(false), null),
            pixels, parallelism, maxBatch, maxDelay, ordered, skip);

    /// <summary><see cref="CaptionEach{T}(BatchCaptioner, Func{T, Tensor}, int, int, TimeSpan, bool, Func{T, bool}?)"/>
    /// with a runner that may hand captions over before its forward completes (ordered, they are emitted then).</summary>
    private static Flow<T, Captioned<T>, NotUsed> CaptionEach<T>(EarlyCaptionBatchRunner runner, Func<T, Tensor> pixels, int parallelism, int maxBatch,
        TimeSpan maxDelay, bool ordered, Func<T, bool>? skip) =>
        RunEach<T>(runner, _ => RouteTag.Caption, pixels, parallelism, maxBatch, maxDelay, ordered, skip, early: null)
            .Select(r => new Captioned<T>(r.Item, r.Result?.Caption, r.Error));

    /// <summary>
    /// The batching stage under the caption flows and the streams' micro-batcher. Elements are grouped (up to
    /// <paramref name="maxBatch"/>, a batch closing <paramref name="maxDelay"/> after it opened; no waiting when maxBatch
    /// is 1); in each batch, elements for which <paramref name="skip"/> holds when the batch starts are emitted skipped,
    /// and the rest run in one forward per (<paramref name="tag"/>, pixel shape) group, groups one after another: elements
    /// of different route tags never share a forward, and each forward gets its group's tag. A failing forward (or a
    /// failing <paramref name="pixels"/>) fails only its group's elements. At most <paramref name="parallelism"/> batches
    /// run at once; <paramref name="ordered"/> = false emits each batch as soon as it is done instead of in input order.
    /// Ordered, an element is emitted as soon as it and every element before it have their results (with the overload
    /// below, a caption that is final early need not wait for the rest of its batch).
    /// </summary>
    public static Flow<T, Ran<T>, NotUsed> RunEach<T>(TaggedBatchRunner runner, Func<T, RouteTag> tag, Func<T, Tensor> pixels, int parallelism,
        int maxBatch, TimeSpan maxDelay, bool ordered, Func<T, bool>? skip = null) =>
        RunEach((t, clips, _, cancellation) => runner(t, clips, cancellation), tag, pixels, parallelism, maxBatch, maxDelay, ordered, skip, early: null);

    /// <summary>
    /// <see cref="RunEach{T}(TaggedBatchRunner, Func{T, RouteTag}, Func{T, Tensor}, int, int, TimeSpan, bool, Func{T, bool}?)"/>
    /// with results handed over as soon as they are known: each element is passed to <paramref name="early"/> once, when
    /// the runner reports its caption final (on the runner's thread), when its group's forward is done or has failed, or,
    /// if skipped, when its batch starts; so a short caption, or a group that ran before a slow one, need not wait for
    /// the rest of its batch. <paramref name="early"/> must be quick and must not throw. Each element is emitted with its
    /// batch as well, with that same result, even if the rest of its forward then fails: its caption was final.
    /// </summary>
    public static Flow<T, Ran<T>, NotUsed> RunEach<T>(EarlyCaptionBatchRunner runner, Func<T, RouteTag> tag, Func<T, Tensor> pixels, int parallelism,
        int maxBatch, TimeSpan maxDelay, bool ordered, Func<T, bool>? skip, Action<Ran<T>>? early)
    {
        Positive(parallelism, nameof(parallelism));
        Positive(maxBatch, nameof(maxBatch));
        if (maxBatch > 1 && maxDelay <= TimeSpan.Zero)
            throw new ArgumentOutOfRangeException(nameof(maxDelay), $"a batch of up to {maxBatch} needs a positive max delay to wait for its elements (got {maxDelay}).");
        var batches = maxBatch == 1
            ? Flow.Create<T>().Select(item => (IEnumerable<T>)[item])
            : Flow.Create<T>().GroupedWithin(maxBatch, maxDelay);
        Action<int, Ran<T>>? handOver = early is null ? null : (_, ran) => early(ran);
        if (!ordered)
            return batches.SelectAsyncUnordered(parallelism, batch => RunBatchAsync(runner, tag, pixels, batch.ToArray(), skip, handOver))
                .SelectMany(r => r);
        return OrderedBatches.Emit(batches, parallelism, maxBatch,
            (batch, settled) => RunBatchAsync(runner, tag, pixels, batch, skip, settled + handOver));
    }

    /// <summary>Runs one batch, its groups one after another; <paramref name="early"/> is told (index in the batch, result)
    /// of each element once, as soon as its result is known (see <c>RunEach</c>). Never throws: failures become the
    /// elements' errors.</summary>
    private static async Task<IReadOnlyList<Ran<T>>> RunBatchAsync<T>(EarlyCaptionBatchRunner runner, Func<T, RouteTag> tagOf, Func<T, Tensor> pixels,
        T[] batch, Func<T, bool>? skip, Action<int, Ran<T>>? early)
    {
        var results = new Ran<T>[batch.Length];
        var told = new bool[batch.Length];                  // early has been told of the element (under lock (results))
        var live = new List<int>();
        for (int i = 0; i < batch.Length; i++)
        {
            if (skip?.Invoke(batch[i]) == true) results[i] = new Ran<T>(batch[i], null, null);
            else live.Add(i);
        }
        TellEarly(Enumerable.Range(0, batch.Length).Except(live));
        foreach (var group in live.GroupBy(i => (Tag: tagOf(batch[i]), Shape: ShapeKey(pixels, batch[i]))))
        {
            var members = group.ToArray();
            var tag = group.Key.Tag;
            var views = new List<Tensor>(members.Length);
            try
            {
                foreach (int i in members) views.Add(AsClip(pixels(batch[i])));
                // [B, T, 3, S, S]: a copy owned here; the elements keep their own pixels (an element handed over early may
                // free them while the forward runs).
                using var clips = stack(views, 0);
                var result = await runner(tag, clips, (k, caption) =>
                {
                    if ((uint)k >= (uint)members.Length) throw new InvalidOperationException($"the engine handed over caption {k} of {members.Length} clips");
                    lock (results) results[members[k]] = new Ran<T>(batch[members[k]], new WindowResult(tag, caption, null), null);
                    TellEarly([members[k]]);
                }, CancellationToken.None).ConfigureAwait(false);
                if (result.Tag != tag) throw new InvalidOperationException($"a forward tagged {tag} answered for {result.Tag}");
                if (result.Count != members.Length)
                    throw new InvalidOperationException($"the engine returned {result.Count} results for {members.Length} clips");
                lock (results)
                    for (int k = 0; k < members.Length; k++)
                        results[members[k]] ??= new Ran<T>(batch[members[k]], new WindowResult(tag, result.Captions?[k], result.Features?[k]), null);
            }
            catch (Exception e)
            {
                lock (results)
                    foreach (int i in members) results[i] ??= new Ran<T>(batch[i], null, e);   // a caption handed over early stays
            }
            finally
            {
                foreach (var view in views) view.Dispose();
            }
            TellEarly(members);
        }
        return results;

        // Tells early of each of these elements whose result is set and that it has not been told of yet.
        void TellEarly(IEnumerable<int> elements)
        {
            if (early is null) return;
            foreach (int i in elements)
            {
                Ran<T> ran;
                lock (results)
                {
                    if (told[i] || results[i] is null) continue;
                    told[i] = true;
                    ran = results[i];
                }
                early(i, ran);
            }
        }
    }

    /// <summary>The pixel shape as a grouping key ("" when the pixels cannot be read: the group's call reports why).</summary>
    private static string ShapeKey<T>(Func<T, Tensor> pixels, T item)
    {
        try { return string.Join("x", pixels(item).shape); }
        catch (Exception) { return ""; }
    }

    /// <summary>An image [3, S, S] as a one-frame clip; clips [T, 3, S, S] as they are (a view either way).</summary>
    private static Tensor AsClip(Tensor pixels) => pixels.dim() switch
    {
        3 => pixels.unsqueeze(0),
        4 => pixels.alias(),
        _ => throw new ArgumentException($"a caption flow element must be an image [3, S, S] or a clip [T, 3, S, S]; got [{string.Join(", ", pixels.shape)}]."),
    };

    private static int Positive(int value, string name) =>
        value >= 1 ? value : throw new ArgumentOutOfRangeException(name, $"{name} must be at least 1 (got {value}).");
}
