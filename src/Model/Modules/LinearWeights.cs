using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// A linear's weight [N, K] and bias [N] that a cache owns (a merged MoE route), with the <see cref="WeightPanels"/>
/// that small products build from the weight on first use. Immutable values: nothing writes into these tensors, so the
/// panels never go stale. <see cref="Dispose"/> releases all three.
/// </summary>
public sealed record LinearWeights(Tensor Weight, Tensor Bias) : IDisposable
{
    public WeightPanels Panels { get; } = new();

    /// <summary>Bytes of the weight, the bias and the panels built so far.</summary>
    public long Bytes => Weight.NumberOfElements * Weight.ElementSize + Bias.NumberOfElements * Bias.ElementSize + Panels.Bytes;

    /// <summary>x [..., K] → x·Wᵀ + b [..., N] (<see cref="Linears.Apply"/>).</summary>
    public Tensor Apply(Tensor x) => Linears.Apply(x, Weight, Bias, Panels);

    public void Dispose()
    {
        Weight.Dispose();
        Bias.Dispose();
        Panels.Dispose();
    }
}
