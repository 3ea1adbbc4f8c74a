using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.Model.Tasks;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Streams.Batching;

/// <summary>What the batcher needs from an engine: one forward of a batch of windows that share a route tag. Tests
/// wrap it (slowed, failing, recording the tags) to exercise the overload, failure and routing paths.</summary>
public interface IWindowEngine
{
    /// <summary>Runs <paramref name="clips"/> [B, T, 3, S, S] (not consumed), all tagged <paramref name="tag"/>, in one
    /// forward that the engine dispatches by the tag; one result per clip, in order. Under a caption tag, when
    /// <paramref name="captioned"/> is given, each clip's caption is also handed to it (index in the batch, caption) as
    /// soon as it is final, possibly before the forward completes (see
    /// <see cref="IUniPerceiverEngine.RunTaggedCaptionsAsync"/>); wrappers pass it on.</summary>
    Task<TaggedResult> RunAsync(RouteTag tag, Tensor clips, Action<int, EngineCaption>? captioned, CancellationToken cancellation);

    /// <summary>Encodes <paramref name="texts"/>, all tagged <paramref name="tag"/> (a text route, e.g.
    /// <see cref="RouteTag.Text"/>), in one forward the engine dispatches by the tag; one feature row per text, in order.</summary>
    Task<TaggedResult> RunTextsAsync(RouteTag tag, IReadOnlyList<string> texts, CancellationToken cancellation);

    /// <summary>Text targets a stream's heads score windows against (<see cref="IUniPerceiverEngine.TextTargetsAsync"/>).</summary>
    Task<TextTargets> TargetsAsync(IReadOnlyList<string> texts, EmbedTask task, EmbedTask scoredAs, CancellationToken cancellation);
}

/// <summary>An engine's tagged forward (<see cref="IUniPerceiverEngine.RunTaggedAsync"/>); captions use
/// <paramref name="options"/>.</summary>
public sealed class EngineWindows(IUniPerceiverEngine engine, CaptionOptions? options = null) : IWindowEngine
{
    public Task<TaggedResult> RunAsync(RouteTag tag, Tensor clips, Action<int, EngineCaption>? captioned, CancellationToken cancellation) =>
        captioned is not null && tag.Head == RouteHead.Caption
            ? engine.RunTaggedCaptionsAsync(tag, clips, captioned, options, cancellation)
            : engine.RunTaggedAsync(tag, clips, null, options, cancellation);

    public Task<TaggedResult> RunTextsAsync(RouteTag tag, IReadOnlyList<string> texts, CancellationToken cancellation) =>
        engine.RunTaggedAsync(tag, null, texts, options, cancellation);

    public Task<TextTargets> TargetsAsync(IReadOnlyList<string> texts, EmbedTask task, EmbedTask scoredAs, CancellationToken cancellation) =>
        engine.TextTargetsAsync(texts, task, scoredAs, cancellation);
}
