using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Model.Decoding;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Streams.Batching;

/// <summary>What the batcher needs from an engine: caption a batch of preprocessed clips in one call. Tests wrap it
/// (slowed, failing) to exercise the overload and failure paths.</summary>
public interface IWindowCaptioner
{
    /// <summary>Captions <paramref name="clips"/> [B, T, 3, 224, 224] (not consumed); one result per clip, in order.</summary>
    Task<IReadOnlyList<EngineCaption>> CaptionAsync(Tensor clips, CancellationToken cancellation);
}

/// <summary>An engine's batched beam search (<see cref="IUniPerceiverEngine.CaptionBatchAsync"/>).</summary>
public sealed class EngineCaptioner(IUniPerceiverEngine engine, CaptionOptions? options = null) : IWindowCaptioner
{
    public Task<IReadOnlyList<EngineCaption>> CaptionAsync(Tensor clips, CancellationToken cancellation) =>
        engine.CaptionBatchAsync(clips, options, cancellation);
}
