using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.ExpertGroups;

/// <summary>Where an expert group gets the parameters of the experts it owns.</summary>
public interface IExpertWeightSource
{
    /// <summary>Weight [out, in] and bias [out] of <paramref name="expert"/> at <paramref name="site"/>.
    /// The tensors belong to the source: callers read them and never dispose them.</summary>
    (Tensor Weight, Tensor Bias) Expert(MoeSite site, int expert);
}

/// <summary>Embedded mode: the experts of an already loaded model, by reference (no copy).</summary>
public sealed class ModelExpertWeights(UniPerceiverMoeModel model) : IExpertWeightSource
{
    public (Tensor Weight, Tensor Bias) Expert(MoeSite site, int expert)
    {
        var moe = model.MoeAt(site) ?? throw new ArgumentException($"{site} is not an MoE linear.");
        var linear = moe.Experts[expert];
        return (linear.weight!, linear.bias!);
    }
}
