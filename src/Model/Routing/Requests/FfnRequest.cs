using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Routing.Requests;

/// <summary>
/// A whole MoE FFN of layer <see cref="Layer"/>, linear2(gelu(linear1(x))), in one request: the [rows, F] intermediate
/// never leaves the group (one hop instead of two, no F-wide tensor on the wire). Input [rows, D], result [rows, D].
/// </summary>
public sealed record FfnRequest(int Layer, Route Linear1, Route Linear2) : ExpertRequest(new MoeSite(Layer, MoeLinearKind.Linear1), Linear1)
{
    public override Tensor Apply(Tensor input, MergedLinear linear) =>
        Ffn(input, h => linear(new MoeSite(Layer, MoeLinearKind.Linear1), Linear1, h), h => linear(new MoeSite(Layer, MoeLinearKind.Linear2), Linear2, h));

    /// <summary>The encoder's FFN, linear2(gelu(linear1(h))) with exact-form (erf) GELU (<see cref="Modules.ErfGelu"/>);
    /// every intermediate is released here. The one copy of this math: the local layer and every fused request use it.</summary>
    public static Tensor Ffn(Tensor h, Func<Tensor, Tensor> linear1, Func<Tensor, Tensor> linear2)
    {
        using var f1 = linear1(h);
        using var act = Modules.ErfGelu.Apply(f1);
        return linear2(act);
    }

    public override long OutFeatures(UniPerceiverConfig model) => model.Hidden;

    public override bool SameComputation(ExpertRequest other) => other is FfnRequest o && o == this;
}
