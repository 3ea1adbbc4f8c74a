using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Routing;

/// <summary>
/// Applies one Conditional-MoE linear to a batch. Implementations: <see cref="LocalMoeExecutor"/> (merged weights in
/// this process) and the actor engine's dispatcher (expert groups behind actors, possibly on other nodes).
/// </summary>
public interface IMoeLinearExecutor
{
    /// <summary>
    /// x: [B, N, in] (not modified, still owned by the caller). Returns a new tensor [B, N, out] owned by the caller,
    /// where tokens of each segment went through x·(Σ g_i W_i)ᵀ + Σ g_i b_i for the segment's route at <paramref name="site"/>.
    /// </summary>
    Tensor Apply(MoeSite site, Tensor x, TokenRouting routing);

    /// <summary>
    /// Optionally the whole MoE FFN of <paramref name="layer"/> in one call: linear2(gelu(linear1(x))) with each
    /// segment's routes, equal to the two <see cref="Apply"/> calls around GELU. Returns null (the default) when this
    /// executor cannot fuse them; the caller then makes the two calls. Same ownership rules as <see cref="Apply"/>.
    /// </summary>
    Tensor? TryApplyFfn(int layer, Tensor x, TokenRouting routing) => null;

    /// <summary>
    /// Optionally the whole tail of MoE layer <paramref name="layer"/> in one call per segment: the attention
    /// out-projection, LayerScale and residual, LN2, the MoE FFN, LayerScale and residual (<see cref="LayerTail.Apply"/>).
    /// <paramref name="context"/> is the attention context [B, N, D] before the out-projection, <paramref name="x"/> the
    /// layer input [B, N, D] (both not modified); <paramref name="tail"/> builds the layer's constants (called only when
    /// fusing; the executor owns and releases what it returns). Returns the layer output, or null (the default) when this executor
    /// cannot fuse the tail; the caller then computes it step by step. Same ownership rules as <see cref="Apply"/>.
    /// </summary>
    Tensor? TryApplyTail(int layer, Tensor context, Tensor x, Func<LayerTail> tail, TokenRouting routing) => null;

    /// <summary>
    /// Optionally the whole MoE layer <paramref name="layer"/> (LN1, qkv, attention, tail: <see cref="WholeLayer.Apply"/>)
    /// in one call, for a pass without key/value cache or key bias. <paramref name="x"/>: the layer input [B, N, D], not
    /// modified; <paramref name="layerConstants"/> is called only when fusing (the executor releases what it returns).
    /// Returns the layer output, or null (the default) when this executor cannot fuse the layer.
    /// </summary>
    Tensor? TryApplyLayer(int layer, Tensor x, Func<WholeLayer> layerConstants, TokenRouting routing) => null;
}
