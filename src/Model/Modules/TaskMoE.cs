// Port of uniperceiver/task_moe/layer.py TaskMoE + experts.py FusedExperts (inference: merged-weight linears).
using TorchSharp;
using TorchSharp.Modules;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>Holds the expert copies of one linear (key segment <c>experts.deepspeed_experts.{e}</c>).</summary>
public sealed class FusedExperts : nn.Module
{
    private readonly ModuleList<Linear> deepspeed_experts;

    public FusedExperts(int inFeatures, int outFeatures, int experts) : base(nameof(FusedExperts))
    {
        // Shapes only: the weights go on the meta device (no storage, no initial values) and are never held here.
        var device = shapesOnly ? new Device(DeviceType.META) : null;
        deepspeed_experts = nn.ModuleList(Enumerable.Range(0, experts).Select(_ => nn.Linear(inFeatures, outFeatures, device: device)).ToArray());
        Held = !shapesOnly;
        RegisterComponents();
    }

    [ThreadStatic] private static bool shapesOnly;

    /// <summary>
    /// While the returned scope is open, experts built on this thread hold shapes only (meta device; <see cref="Held"/>
    /// false), as after <see cref="Release"/> but without ever allocating their storage: a cluster frontend's model
    /// never holds its experts' weights, not even while it is being built. Nested scopes are not supported.
    /// </summary>
    public static IDisposable ShapesOnly()
    {
        if (shapesOnly) throw new InvalidOperationException("FusedExperts.ShapesOnly scopes do not nest.");
        shapesOnly = true;
        return new ShapesOnlyScope();
    }

    private sealed class ShapesOnlyScope : IDisposable
    {
        public void Dispose() => shapesOnly = false;
    }

    public int Count => deepspeed_experts.Count;

    /// <summary>Whether the experts' weights are held here (false after <see cref="Release"/>).</summary>
    public bool Held { get; private set; } = true;

    /// <summary>
    /// Frees the experts' weights, keeping their shapes on the meta device (no storage): a cluster frontend, whose
    /// experts live on expert nodes, holds the dense part only. Applying a released expert fails.
    /// </summary>
    public void Release()
    {
        if (!Held) return;
        using var _ = no_grad();
        var meta = new Device(DeviceType.META);
        foreach (var expert in deepspeed_experts)
        {
            var (weight, bias) = (expert.weight!, expert.bias);
            expert.weight = new Parameter(empty(weight.shape, weight.dtype, meta), requires_grad: false);
            if (bias is not null) expert.bias = new Parameter(empty(bias.shape, bias.dtype, meta), requires_grad: false);
            weight.Dispose();
            bias?.Dispose();
        }
        Held = false;
    }

    public Linear this[int expert] => deepspeed_experts[expert];
}

/// <summary>
/// A Conditional-MoE linear: <c>experts</c> (E copies of Linear(in, out)) and its <c>gate</c>. At inference the
/// reference collapses it to one merged linear per route: W = Σ g_i·W_i, b = Σ g_i·b_i.
/// </summary>
public sealed class TaskMoE : nn.Module
{
    private readonly FusedExperts experts;
    private readonly TopKGate gate;

    public TaskMoE(int inFeatures, int outFeatures, UniPerceiverConfig config) : base(nameof(TaskMoE))
    {
        experts = new FusedExperts(inFeatures, outFeatures, config.Experts);
        gate = new TopKGate(config.AttributeLength, config.Hidden, config.Experts, config.TopK, config.LayerNormEps);
        RegisterComponents();
    }

    public FusedExperts Experts => experts;

    public TopKGate Gate => gate;

    /// <summary>
    /// Merged weight [out, in] and bias [out] of <paramref name="route"/>, computed as the reference's mergelayer
    /// (W_1·g_1 + W_2·g_2 in the experts' dtype). New tensors owned by the caller.
    /// </summary>
    public (Tensor Weight, Tensor Bias) Merge(Route route) => MergeExperts(i => experts[i].weight!, i => experts[i].bias!, route);

    /// <summary>The merge of <paramref name="route"/> over any source of expert tensors (used by expert groups too).</summary>
    public static (Tensor Weight, Tensor Bias) MergeExperts(Func<int, Tensor> weightOf, Func<int, Tensor> biasOf, Route route)
    {
        using var noGrad = no_grad();
        Tensor w = TorchScalar.Use(route.Weights[0], g => weightOf(route.Experts[0]).mul(g));
        Tensor b = TorchScalar.Use(route.Weights[0], g => biasOf(route.Experts[0]).mul(g));
        for (int i = 1; i < route.K; i++)
        {
            using var wi = TorchScalar.Use(route.Weights[i], g => weightOf(route.Experts[i]).mul(g));
            using var bi = TorchScalar.Use(route.Weights[i], g => biasOf(route.Experts[i]).mul(g));
            w.PlusInPlace(wi);
            b.PlusInPlace(bi);
        }
        return (w, b);
    }
}
