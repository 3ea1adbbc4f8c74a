using static TorchSharp.torch;

namespace UniPerceiverMoe.Host.Inputs;

/// <summary>How a still image is preprocessed: CLIP eval transform (captioning, retrieval) or the ImageNet eval
/// transform (classification).</summary>
public enum ImagePipeline
{
    Clip,
    ImageNet,
}

/// <summary>A preprocessed visual input, owned by this record: [3, S, S] (image), [T, 3, S, S] (clip) or
/// [V, T, 3, S, S] (temporal views of a clip). <see cref="Name"/> is the path, URL or tensor spec it came from.</summary>
public sealed record VisualInput(string Name, Tensor Pixels, bool IsVideo) : IDisposable
{
    public void Dispose() => Pixels.Dispose();
}
