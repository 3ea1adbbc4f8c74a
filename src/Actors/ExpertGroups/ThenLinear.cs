using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.ExpertGroups;

/// <summary>What a group computes after its first linear, in the same request (fewer hops, smaller tensors on the
/// wire). Only sent when one group owns every sub-route involved whole.</summary>
public abstract record GroupFollowUp
{
    /// <summary>Tensors the follow-up carries besides the input (owned by the request: the group releases them).</summary>
    public virtual Tensor? Constants => null;

    /// <summary>This follow-up with a handle of its own on <see cref="Constants"/>, for one in-process request (the
    /// group releases it; the sender keeps and releases its own).</summary>
    public virtual GroupFollowUp WithOwnConstants() => this;

    /// <summary>This follow-up with <paramref name="constants"/> in place of <see cref="Constants"/> (the same values,
    /// e.g. on the group's device); the caller keeps owning both.</summary>
    public virtual GroupFollowUp WithConstants(Tensor constants) => this;
}

/// <summary>
/// A second MoE linear the same group applies after GELU (the encoder's FFN activation): with it, one request computes
/// a whole MoE FFN, linear2(gelu(linear1(x))), and the [.., ffn] intermediate never leaves the group (one hop instead
/// of two, and no 4·D-wide tensor on the wire).
/// </summary>
public sealed record ThenLinear(MoeSite Site, Route SubRoute) : GroupFollowUp;

/// <summary>
/// The rest of an encoder layer after the attention out-projection (the first linear, site Dense): LayerScale and
/// residual, LN2, the MoE FFN (<paramref name="Linear1"/>, GELU, <paramref name="Linear2"/>), LayerScale and residual
/// (<see cref="LayerTail.Apply"/>). The request's input is [rows, 2D]: the attention context, then the layer input;
/// the reply is the layer output [rows, D]. One hop per MoE layer instead of two. <see cref="Tail"/>'s Params are
/// owned by the request, like its input: the group releases them (senders pass a handle of their own per try).
/// </summary>
public sealed record ThenLayerTail(Route Linear1, Route Linear2, LayerTail Tail) : GroupFollowUp
{
    public override Tensor? Constants => Tail.Params;

    public override GroupFollowUp WithOwnConstants() => this with { Tail = Tail with { Params = Tail.Params.alias().DetachFromDisposeScope() } };

    public override GroupFollowUp WithConstants(Tensor constants) => this with { Tail = Tail with { Params = constants } };
}

/// <summary>One segment of a whole-layer request: its token range and its four sub-routes (qkv, out-projection,
/// linear1, linear2).</summary>
public sealed record SegmentRoutes(int Start, int Length, Route Qkv, Route Dense, Route Linear1, Route Linear2)
{
    public Route this[MoeLinearKind kind] => kind switch
    {
        MoeLinearKind.QkvProj => Qkv,
        MoeLinearKind.Dense => Dense,
        MoeLinearKind.Linear1 => Linear1,
        _ => Linear2,
    };
}

/// <summary>
/// A whole MoE encoder layer in one request (<see cref="WholeLayer.Apply"/>): the input is the layer input of whole
/// sequences ([B, N, D], or [B·N, D] rows on the wire), the reply the layer output of the same shape. The request's
/// own site and route are the first segment's qkv. One hop per MoE layer; for passes without key/value cache or key
/// bias. <see cref="Layer"/>'s Params are owned by the request, like its input.
/// </summary>
public sealed record ThenWholeLayer(IReadOnlyList<SegmentRoutes> Segments, WholeLayer Layer, int SequenceLength) : GroupFollowUp
{
    public override Tensor? Constants => Layer.Params;

    public override GroupFollowUp WithOwnConstants() => this with { Layer = Layer with { Params = Layer.Params.alias().DetachFromDisposeScope() } };

    public override GroupFollowUp WithConstants(Tensor constants) => this with { Layer = Layer with { Params = constants } };
}
