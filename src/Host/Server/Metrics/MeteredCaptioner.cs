using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.Streams.Batching;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Host.Server.Metrics;

/// <summary>Times every batched engine forward of the streams (stage stream_batch) and records its size.</summary>
public sealed class MeteredCaptioner(IWindowEngine inner, UpmoeMetrics metrics) : IWindowEngine
{
    public async Task<TaggedResult> RunAsync(RouteTag tag, Tensor clips, Action<int, EngineCaption>? captioned, CancellationToken cancellation)
    {
        metrics.BatchSize.Observe(clips.size(0));
        using (metrics.Time("stream_batch")) return await inner.RunAsync(tag, clips, captioned, cancellation).ConfigureAwait(false);
    }

    public async Task<TaggedResult> RunTextsAsync(RouteTag tag, IReadOnlyList<string> texts, CancellationToken cancellation)
    {
        metrics.BatchSize.Observe(texts.Count);
        using (metrics.Time("stream_batch")) return await inner.RunTextsAsync(tag, texts, cancellation).ConfigureAwait(false);
    }

    public Task<TextTargets> TargetsAsync(IReadOnlyList<string> texts, EmbedTask task, EmbedTask scoredAs, CancellationToken cancellation) =>
        inner.TargetsAsync(texts, task, scoredAs, cancellation);
}
