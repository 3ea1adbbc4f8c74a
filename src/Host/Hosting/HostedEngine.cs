using UniPerceiverMoe.Actors;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.Model.Tokenization;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Host.Hosting;

/// <summary>The engine of a <see cref="UniPerceiverMoeRuntime"/> as dependency injection hands it out: resolvable
/// before the engine has started, each call goes to the engine once it is ready and fails with
/// <see cref="EngineNotReadyException"/> while it is loading, failed or stopped.</summary>
public sealed class HostedEngine(UniPerceiverMoeRuntime runtime) : IUniPerceiverEngine
{
    public UniPerceiverMoeRuntime Runtime => runtime;

    private UniPerceiverEngine Engine => runtime.Engine;

    public string Name => Engine.Name;
    public ClipTokenizer Tokenizer => Engine.Tokenizer;
    public EngineCounters Counters => Engine.Counters;

    public Task<EngineCaption> CaptionAsync(Tensor pixels, CaptionOptions? options = null, VocabularyBank? restrictTo = null, CancellationToken cancellation = default) =>
        Engine.CaptionAsync(pixels, options, restrictTo, cancellation);

    public Task<IReadOnlyList<EngineCaption>> CaptionBatchAsync(Tensor clips, CaptionOptions? options = null, CancellationToken cancellation = default) =>
        Engine.CaptionBatchAsync(clips, options, cancellation);

    public Task<TaggedResult> RunTaggedAsync(RouteTag tag, Tensor? inputs, IReadOnlyList<string>? texts = null, CaptionOptions? options = null,
        CancellationToken cancellation = default) => Engine.RunTaggedAsync(tag, inputs, texts, options, cancellation);

    public Task<TaggedResult> RunTaggedCaptionsAsync(RouteTag tag, Tensor clips, Action<int, EngineCaption> captioned, CaptionOptions? options = null,
        CancellationToken cancellation = default) => Engine.RunTaggedCaptionsAsync(tag, clips, captioned, options, cancellation);

    public Task<TextTargets> TextTargetsAsync(IReadOnlyList<string> texts, EmbedTask task, EmbedTask scoredAs, CancellationToken cancellation = default) =>
        Engine.TextTargetsAsync(texts, task, scoredAs, cancellation);

    public Task<ClassificationResult> ClassifyAsync(Tensor views, IReadOnlyList<string> labels, bool video, CancellationToken cancellation = default) =>
        Engine.ClassifyAsync(views, labels, video, cancellation);

    public Task<RetrievalResult> RetrieveTextsAsync(Tensor pixels, IReadOnlyList<string> texts, CancellationToken cancellation = default) =>
        Engine.RetrieveTextsAsync(pixels, texts, cancellation);

    public Task<RetrievalResult> RetrieveVisualsAsync(string text, IReadOnlyList<(string Name, Tensor Pixels)> visuals, CancellationToken cancellation = default) =>
        Engine.RetrieveVisualsAsync(text, visuals, cancellation);

    public Task<Tensor> EmbedVisualAsync(Tensor pixels, EmbedTask task, CancellationToken cancellation = default) =>
        Engine.EmbedVisualAsync(pixels, task, cancellation);

    public Task<Tensor> EmbedTextAsync(string text, EmbedTask task, CancellationToken cancellation = default) =>
        Engine.EmbedTextAsync(text, task, cancellation);
}
