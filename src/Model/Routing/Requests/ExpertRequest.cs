using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Routing.Requests;

/// <summary>x·Wᵀ + b with the merged weights of <paramref name="subRoute"/> at <paramref name="site"/>: a new tensor owned
/// by the caller (an expert group's merged-weight cache, or the local executor's).</summary>
public delegate Tensor MergedLinear(MoeSite site, Route subRoute, Tensor x);

/// <summary>
/// One request to an expert group, and the one place its math lives: a single MoE linear (<see cref="LinearRequest"/>),
/// a whole MoE FFN (<see cref="FfnRequest"/>), an encoder layer's tail after attention (<see cref="LayerTailRequest"/>)
/// or a whole encoder layer (<see cref="WholeLayerRequest"/>). Whoever holds the merged linears applies any case the
/// same way (<see cref="Apply"/>): the expert-group actor, and the local layer through the same static math.
/// <see cref="Site"/> and <see cref="SubRoute"/> name the request's first linear (for errors, logs and hop batching;
/// the group checks that it holds each expert when it merges that linear's weights). <see cref="Constants"/> (LayerScale and
/// LayerNorm rows of the fused cases) are owned by the request like its input: its receiver releases them.
/// </summary>
public abstract record ExpertRequest(MoeSite Site, Route SubRoute)
{
    /// <summary>The request's result for <paramref name="input"/> (rows, or [B, N, D] sequences for a whole layer; not
    /// modified), owned by the caller. <paramref name="linear"/> applies the group's merged linears.</summary>
    public abstract Tensor Apply(Tensor input, MergedLinear linear);

    /// <summary>Features of one result row.</summary>
    public abstract long OutFeatures(UniPerceiverConfig model);

    /// <summary>Input rows that must stay together in one message (a whole layer's sequence: attention mixes its tokens).</summary>
    public virtual int RowsPerUnit => 1;

    /// <summary>The request's constants besides its input (null for a plain linear or FFN).</summary>
    public virtual Tensor? Constants => null;

    /// <summary>This request with <paramref name="constants"/> in place of <see cref="Constants"/> (the same values, e.g.
    /// on the group's device); the caller keeps owning both.</summary>
    public virtual ExpertRequest WithConstants(Tensor constants) => this;

    /// <summary>This request with a handle of its own on <see cref="Constants"/>, for one in-process send (the receiver
    /// releases it; the sender keeps and releases its own).</summary>
    public ExpertRequest WithOwnConstants() => Constants is { } c ? WithConstants(c.alias().DetachFromDisposeScope()) : this;

    /// <summary>Whether <paramref name="other"/> computes the same function of its input (same case, routes, constant
    /// shapes and scalars), so both may ride in one batched request. Constants are compared by shape, never by value:
    /// that would read device memory; requests of one layer carry the same constants.</summary>
    public abstract bool SameComputation(ExpertRequest other);

    /// <summary>Output features of the MoE linear of <paramref name="kind"/> (reference shapes: qkv 3D, dense D, linear1 F, linear2 D).</summary>
    public static long OutFeaturesOf(MoeLinearKind kind, UniPerceiverConfig model) => kind switch
    {
        MoeLinearKind.QkvProj => 3L * model.Hidden,
        MoeLinearKind.Linear1 => model.Ffn,
        _ => model.Hidden,
    };

    protected static bool SameShape(Tensor a, Tensor b) =>
        ReferenceEquals(a, b) || (TensorShapes.Of(a).SequenceEqual(TensorShapes.Of(b)) && a.dtype == b.dtype && a.device_type == b.device_type);
}
