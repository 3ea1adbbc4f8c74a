using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Routing;

/// <summary>
/// The dense constants of an encoder layer's tail: rows γ1, γ2, LN2 weight, LN2 bias of <see cref="Params"/> [4, D],
/// and LN2's eps. With them an expert group that owns the layer's out-projection and FFN routes computes the whole
/// tail in one request (<see cref="Apply"/>). <see cref="Params"/> is borrowed: whoever built it releases it.
/// </summary>
public sealed record LayerTail(Tensor Params, double Eps)
{
    /// <summary>
    /// The layer output from the attention context and the layer input, exactly as the unfused layer computes it:
    /// x1 = x + γ1 ⊙ dense(ctx); out = x1 + γ2 ⊙ linear2(gelu(linear1(LN2(x1)))). <paramref name="contextAndInput"/>
    /// is [.., 2D] (context, then input); <paramref name="linear"/>(kind, input) applies the merged MoE linear of that
    /// kind (Dense, Linear1, Linear2). Returns [.., D] owned by the caller; every intermediate is released here.
    /// </summary>
    public Tensor Apply(Tensor contextAndInput, Func<MoeLinearKind, Tensor, Tensor> linear)
    {
        long d = Params.size(1);
        using var context = contextAndInput.narrow(-1, 0, d);
        using var x = contextAndInput.narrow(-1, d, d);
        using var gamma1 = Params[0];
        using var gamma2 = Params[1];
        using var normWeight = Params[2];
        using var normBias = Params[3];
        return Compute(context, x, gamma1, gamma2, h => nn.functional.layer_norm(h, [d], normWeight, normBias, Eps),
            c => linear(MoeLinearKind.Dense, c),
            h => Requests.FfnRequest.Ffn(h, a => linear(MoeLinearKind.Linear1, a), a => linear(MoeLinearKind.Linear2, a)));
    }

    /// <summary>
    /// The tail's math, the one copy of it (the local layer, fused tails and whole layers all call it):
    /// x1 = x + γ1 ⊙ dense(context); out = x1 + γ2 ⊙ ffn(norm2(x1)). Returns a new tensor owned by the caller; every
    /// intermediate is released here. <paramref name="dense"/>, <paramref name="norm2"/> and <paramref name="ffn"/>
    /// return new tensors.
    /// </summary>
    public static Tensor Compute(Tensor context, Tensor x, Tensor gamma1, Tensor gamma2, Func<Tensor, Tensor> norm2, Func<Tensor, Tensor> dense,
        Func<Tensor, Tensor> ffn)
    {
        using var scope = NewDisposeScope();
        using var attn = dense(context);
        using var scaledAttn = attn.mul(gamma1);
        using var x1 = x.Plus(scaledAttn);
        using var h2 = norm2(x1);
        using var f2 = ffn(h2);
        using var scaledFfn = f2.mul_(gamma2);
        return x1.Plus(scaledFfn).MoveToOuterDisposeScope();
    }
}
