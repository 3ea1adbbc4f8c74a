using TorchSharp.Modules;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// The <see cref="WeightPanels"/> of a module's dense linears (one per linear kind), for the small products of
/// inference. A dense layer's parameters are the ones training updates in place. Invariant: panels are built and read
/// only for a weight that does not require grad, and dropped as soon as it does. The engine's models freeze every
/// parameter once loaded (<see cref="Inference.ModelLoader"/>), training unfreezes them before its first forward pass
/// (which comes through here and drops the panels) and freezes them again at the end, so panels built before an
/// optimizer step are never read after it.
/// </summary>
internal sealed class DenseLinearPanels : IDisposable
{
    private readonly WeightPanels?[] byKind = new WeightPanels?[Enum.GetValues<MoeLinearKind>().Length];

    /// <summary>x·Wᵀ + b with <paramref name="linear"/>'s parameters (<see cref="Linears.Apply"/>).</summary>
    public Tensor Apply(Linear linear, MoeLinearKind kind, Tensor x)
    {
        var panels = byKind[(int)kind] ??= new WeightPanels();
        if (linear.weight!.requires_grad)
        {
            panels.Reset();
            return Linears.Apply(x, linear.weight!, linear.bias);
        }
        return Linears.Apply(x, linear.weight!, linear.bias, panels);
    }

    /// <summary>As above, for a module with a single dense linear (kept in the first slot).</summary>
    public Tensor Apply(Linear linear, Tensor x) => Apply(linear, default, x);

    public void Dispose()
    {
        foreach (var p in byKind) p?.Dispose();
    }
}
