using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Routing.Requests;

/// <summary>
/// The rest of encoder layer <see cref="Layer"/> after attention, in one request: the out-projection
/// (<see cref="Dense"/>), LayerScale and residual, LN2, the MoE FFN (<see cref="Linear1"/>, GELU, <see cref="Linear2"/>),
/// LayerScale and residual (<see cref="LayerTail.Compute"/>). Input [rows, 2D]: the attention context, then the layer
/// input; result: the layer output [rows, D]. One hop per MoE layer instead of two. <see cref="Tail"/>'s Params [4, D]
/// are owned by the request, like its input.
/// </summary>
public sealed record LayerTailRequest(int Layer, Route Dense, Route Linear1, Route Linear2, LayerTail Tail)
    : ExpertRequest(new MoeSite(Layer, MoeLinearKind.Dense), Dense)
{
    public override Tensor Apply(Tensor input, MergedLinear linear) =>
        Tail.Apply(input, (kind, part) => linear(new MoeSite(Layer, kind), RouteOf(kind), part));

    private Route RouteOf(MoeLinearKind kind) => kind switch
    {
        MoeLinearKind.Dense => Dense,
        MoeLinearKind.Linear1 => Linear1,
        MoeLinearKind.Linear2 => Linear2,
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "a layer tail has no qkv projection."),
    };

    public override long OutFeatures(UniPerceiverConfig model) => model.Hidden;

    public override Tensor? Constants => Tail.Params;

    public override ExpertRequest WithConstants(Tensor constants) => this with { Tail = Tail with { Params = constants } };

    public override bool SameComputation(ExpertRequest other) => other is LayerTailRequest o && o.Layer == Layer && o.Dense.Equals(Dense)
        && o.Linear1.Equals(Linear1) && o.Linear2.Equals(Linear2) && o.Tail.Eps == Tail.Eps && SameShape(o.Tail.Params, Tail.Params);
}
