// Port of uniperceiver/task_moe/gate.py TopKGate (eval mode, attribute routing with TAG_Transform, no activation).
using TorchSharp;
using TorchSharp.Modules;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// logits = wg(LN(tag_transform.0(attribute))); softmax over experts; top-k renormalised. The input is the 8-bit
/// attribute, never a hidden state, so the decision is a constant per attribute (computed once, see RouteTable).
/// </summary>
public sealed class TopKGate : nn.Module
{
    private readonly Sequential tag_transform;
    private readonly Linear wg;
    private readonly int topK;

    public TopKGate(int attributeLength, int hidden, int experts, int topK, double eps) : base(nameof(TopKGate))
    {
        this.topK = topK;
        tag_transform = nn.Sequential(nn.Linear(attributeLength, hidden), nn.LayerNorm(hidden, eps));
        wg = nn.Linear(hidden, experts, hasBias: false);
        RegisterComponents();
    }

    /// <summary>wg.weight [E, D], still owned by the module: token-level routing gates hidden states with it directly.</summary>
    internal Tensor WgWeight => wg.weight!;

    /// <summary>Gate logits wg(LN(tag_transform.0(a))) for attribute rows <paramref name="attributes"/> [R, 8] → [R, E],
    /// differentiable (training merges experts with autograd through these; <see cref="Decide"/> is the eval path).</summary>
    public Tensor Logits(Tensor attributes) => wg.forward(tag_transform.forward(attributes));

    /// <summary>The gate's decision for one attribute (fp32, no noise: eval mode).</summary>
    public GateDecision Decide(MoeAttribute attribute)
    {
        using var _ = NewDisposeScope();
        using var noGrad = no_grad();
        var device = wg.weight!.device;
        var a = tensor(attribute.ToVector(), device: device).unsqueeze(0);      // [1, 8]
        var logits = wg.forward(tag_transform.forward(a)).squeeze(0);           // [E]
        var softmax = logits.softmax(-1);
        var (_, idx) = logits.topk(topK);                                       // highest first
        var chosen = softmax.index_select(0, idx);
        // Renormalise as deepspeed's top2gating: g /= max(sum g, eps(float32)).
        var denom = TorchScalar.Use(1.1920929e-07f, eps => chosen.sum().clamp_min(eps));
        var weights = (chosen / denom).cpu().data<float>().ToArray();
        var experts = idx.cpu().data<long>().Select(i => (int)i).ToArray();
        return new GateDecision(softmax.cpu().data<float>().ToArray(), new Route(experts, weights));
    }
}
