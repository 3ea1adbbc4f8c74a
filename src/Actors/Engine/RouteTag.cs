using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Engine;

/// <summary>What the engine computes on top of a tagged batch's encoding.</summary>
public enum RouteHead
{
    /// <summary>Beam-search captioning: the visual prefix is encoded under the tag's attribute, words under caption row 1.</summary>
    Caption,
    /// <summary>Normalised spe features [B, D] of the inputs encoded under the tag's attribute (classification,
    /// retrieval and watch heads score them against text targets).</summary>
    Features,
}

/// <summary>
/// The route tag a stream's tokenize stage gives each window (or text): the attribute that fixes every MoE route of
/// its tokens, and the head the engine runs on top. It travels with the tokens through the micro-batcher into
/// <see cref="IUniPerceiverEngine.RunTaggedAsync"/>, which dispatches by it; nothing downstream of the tokenize stage
/// derives it again. Windows with equal tags may share one forward; different tags never do.
/// </summary>
public readonly record struct RouteTag(MoeAttribute Attribute, RouteHead Head)
{
    /// <summary>Caption windows: visual tokens under caption row 0 (1 1 0 1 1 0 0 0).</summary>
    public static readonly RouteTag Caption = new(MoeAttribute.CaptionVisual, RouteHead.Caption);

    /// <summary>Classification windows: visual input (1 0 0 1 1 0 0 0).</summary>
    public static readonly RouteTag Classification = new(MoeAttribute.VisualInput, RouteHead.Features);

    /// <summary>Retrieval windows (watch, match): visual input too. The released models give classification and
    /// retrieval inputs the same attribute bits (reference §3.5), so both tasks share one encoding of a window.</summary>
    public static readonly RouteTag Retrieval = new(MoeAttribute.VisualInput, RouteHead.Features);

    /// <summary>Text feeds: text tokens with the text-target attribute (1 0 0 1 0 1 1 0), scored by retrieval.</summary>
    public static readonly RouteTag Text = new(MoeAttribute.RetrievalTarget, RouteHead.Features);

    public override string ToString() => $"{Head.ToString().ToLowerInvariant()}/{Attribute}";
}

/// <summary>
/// The result of one tagged forward (<see cref="IUniPerceiverEngine.RunTaggedAsync"/>): captions for
/// <see cref="RouteHead.Caption"/>, or normalised features for <see cref="RouteHead.Features"/> as one row of floats per
/// input (on the CPU, so no tensor ownership leaves the call).
/// </summary>
public sealed record TaggedResult(RouteTag Tag, IReadOnlyList<EngineCaption>? Captions, IReadOnlyList<float[]>? Features)
{
    public int Count => Captions?.Count ?? Features?.Count ?? 0;
}

/// <summary>Normalised text-target features [n, D] of a text list (one float row per text, in order) and the
/// temperature τ of the task they are scored for.</summary>
public sealed record TextTargets(IReadOnlyList<string> Texts, IReadOnlyList<float[]> Features, float Temperature)
{
    /// <summary>The features as a new [n, D] tensor owned by the caller.</summary>
    public Tensor ToTensor()
    {
        int d = Features.Count == 0 ? 0 : Features[0].Length;
        var flat = new float[Features.Count * d];
        for (int i = 0; i < Features.Count; i++) Features[i].CopyTo(flat, i * d);
        return tensor(flat, [Features.Count, d]);
    }
}
