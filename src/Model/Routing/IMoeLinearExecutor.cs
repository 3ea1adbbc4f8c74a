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
}
