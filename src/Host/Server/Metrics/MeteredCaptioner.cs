using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Streams.Batching;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Host.Server.Metrics;

/// <summary>Times every batched engine call of the caption streams (stage stream_batch) and records its size.</summary>
public sealed class MeteredCaptioner(IWindowCaptioner inner, UpmoeMetrics metrics) : IWindowCaptioner
{
    public async Task<IReadOnlyList<EngineCaption>> CaptionAsync(Tensor clips, CancellationToken cancellation)
    {
        metrics.BatchSize.Observe(clips.shape[0]);
        using (metrics.Time("stream_batch")) return await inner.CaptionAsync(clips, cancellation).ConfigureAwait(false);
    }
}
