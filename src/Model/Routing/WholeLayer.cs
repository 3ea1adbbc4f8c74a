using UniPerceiverMoe.Model.Modules;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Routing;

/// <summary>
/// The dense constants of a whole MoE encoder layer: rows γ1, γ2, LN2 weight, LN2 bias, LN1 weight, LN1 bias of
/// <see cref="Params"/> [6, D], the LayerNorms' eps and the attention heads. With them an expert group that owns the
/// layer's four MoE routes computes the layer in one request (<see cref="Apply"/>), for passes without a key/value
/// cache or key bias. <see cref="Params"/> is borrowed: whoever built it releases it.
/// </summary>
public sealed record WholeLayer(Tensor Params, double Eps, int Heads)
{
    /// <summary>
    /// The layer output for sequences <paramref name="x"/> [B, N, D], exactly as the layer computes it step by step:
    /// LN1, the qkv linear per segment, attention, then per segment the tail (<see cref="LayerTail.Apply"/>).
    /// <paramref name="linear"/>(segment, kind, input) applies a segment's merged MoE linear. Returns [B, N, D].
    /// </summary>
    public Tensor Apply(Tensor x, IReadOnlyList<(int Start, int Length)> segments, Func<int, MoeLinearKind, Tensor, Tensor> linear)
    {
        long d = Params.size(1);
        using var scope = NewDisposeScope();
        using var norm1Weight = Params[4];
        using var norm1Bias = Params[5];
        using var tailParams = Params.narrow(0, 0, 4);
        var tail = new LayerTail(tailParams, Eps);
        using var h1 = nn.functional.layer_norm(x, [d], norm1Weight, norm1Bias, Eps);
        using var qkv = PerSegment(h1, segments, (i, part) => linear(i, MoeLinearKind.QkvProj, part));
        using var context = MoEAttentionBlock.Attend(qkv, Heads, (int)(d / Heads), keyBias: null);
        using var joined = cat([context, x], -1);                                          // [B, N, 2D]
        return PerSegment(joined, segments, (i, part) => tail.Apply(part, (kind, input) => linear(i, kind, input))).MoveToOuterDisposeScope();
    }

    /// <summary>f over each segment's token slice, joined along the tokens (one segment: f of the whole input).</summary>
    private static Tensor PerSegment(Tensor input, IReadOnlyList<(int Start, int Length)> segments, Func<int, Tensor, Tensor> f)
    {
        if (segments.Count == 1) return f(0, input);
        var outputs = new List<Tensor>(segments.Count);
        try
        {
            for (int i = 0; i < segments.Count; i++)
            {
                using var part = input.narrow(1, segments[i].Start, segments[i].Length);
                outputs.Add(f(i, part));
            }
            return cat(outputs, 1);
        }
        finally
        {
            foreach (var o in outputs) o.Dispose();
        }
    }
}
