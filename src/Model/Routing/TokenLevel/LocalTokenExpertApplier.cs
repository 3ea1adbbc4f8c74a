using UniPerceiverMoe.Model.Modules;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Routing.TokenLevel;

/// <summary>Applies experts with the model's own <see cref="TaskMoE"/> weights, in this process (no merging: one expert per request).</summary>
public sealed class LocalTokenExpertApplier(UniPerceiverMoeModel model) : ITokenExpertApplier
{
    public Tensor Apply(MoeSite site, int expert, Tensor tokens)
    {
        var moe = model.MoeAt(site) ?? throw new ArgumentException($"{site} is not an MoE linear.");
        if (expert < 0 || expert >= moe.Experts.Count)
            throw new ArgumentOutOfRangeException(nameof(expert), $"{site} has experts 0..{moe.Experts.Count - 1}, not {expert}.");
        var linear = moe.Experts[expert];
        using var noGrad = no_grad();
        return Linears.Apply(tokens, linear.weight!, linear.bias);
    }
}
