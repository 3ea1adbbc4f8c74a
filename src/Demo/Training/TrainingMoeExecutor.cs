// Training counterpart of LocalMoeExecutor: the reference's TaskMoE forward in train mode (uniperceiver/task_moe/
// gate.py top2gating with the 'vmoe' noisy policy, experts.py mergelayer), differentiable end to end.
using TorchSharp;
using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

using UniPerceiverMoe.Model;

namespace UniPerceiverMoe.Demo.Training;

/// <summary>
/// Merges expert weights on the fly with autograd through the gate: logits = wg(LN(tag_transform(a))) (+ N(0, σ²)
/// noise when <c>noiseStd</c> &gt; 0, as 'vmoe'), p = softmax(logits), the top-k of the (noisy) logits, g = p[top-k]
/// renormalised, W = Σ g_i W_i and b = Σ g_i b_i. Gradients reach the chosen experts, wg and tag_transform.
/// Gates are shared as at inference: dense reuses the qkv_proj gate, linear2 reuses linear1's.
/// One instance per training step: it caches the gates and merged weights of the step (they are nodes of that step's
/// graph, reused by every pass with the same attribute). The cached tensors are detached from any dispose scope —
/// encoder layers dispose their own intermediates — and owned by the executor: dispose it after backward().
/// </summary>
public sealed class TrainingMoeExecutor : IMoeLinearExecutor, IDisposable
{
    private readonly UniPerceiverMoeModel model;
    private readonly double noiseStd;
    private readonly Generator? generator;
    private readonly Dictionary<(int Layer, MoeGateKind Gate, MoeAttribute Attribute), (Tensor Weights, int[] Experts)> gates = new();
    private readonly Dictionary<(MoeSite Site, MoeAttribute Attribute), (Tensor Weight, Tensor Bias)> merged = new();

    public TrainingMoeExecutor(UniPerceiverMoeModel model, double noiseStd = 0, Generator? generator = null)
    {
        this.model = model;
        this.noiseStd = noiseStd;
        this.generator = generator;
    }

    /// <summary>The experts chosen so far per (layer, gate, attribute) in this step (for logging and tests).</summary>
    public IReadOnlyDictionary<(int Layer, MoeGateKind Gate, MoeAttribute Attribute), int[]> Choices =>
        gates.ToDictionary(kv => kv.Key, kv => kv.Value.Experts);

    public Tensor Apply(MoeSite site, Tensor x, TokenRouting routing) =>
        routing.ApplyPerSegment(x, (segment, attribute) => Linear(site, segment, attribute));

    /// <summary>Differentiable merged weight [out, in] and bias [out] of the site for an attribute (cached per step).</summary>
    public (Tensor Weight, Tensor Bias) Merged(MoeSite site, MoeAttribute attribute)
    {
        if (merged.TryGetValue((site, attribute), out var cached)) return cached;
        var moe = model.MoeAt(site) ?? throw new ArgumentException($"{site} is not an MoE linear.");
        var (g, experts) = Gate(site.Layer, site.Gate, attribute);
        Tensor w = moe.Experts[experts[0]].weight!.mul(g[0]);
        Tensor b = moe.Experts[experts[0]].bias!.mul(g[0]);
        for (int i = 1; i < experts.Length; i++)
        {
            w = w.Plus(moe.Experts[experts[i]].weight!.mul(g[i]));
            b = b.Plus(moe.Experts[experts[i]].bias!.mul(g[i]));
        }
        w.DetachFromDisposeScope();
        b.DetachFromDisposeScope();
        merged[(site, attribute)] = (w, b);
        return (w, b);
    }

    private Tensor Linear(MoeSite site, Tensor x, MoeAttribute attribute)
    {
        var (w, b) = Merged(site, attribute);
        return nn.functional.linear(x, w, b);
    }

    private (Tensor Weights, int[] Experts) Gate(int layer, MoeGateKind gate, MoeAttribute attribute)
    {
        if (gates.TryGetValue((layer, gate, attribute), out var cached)) return cached;
        var owner = model.MoeAt(new MoeSite(layer, gate == MoeGateKind.Attention ? MoeLinearKind.QkvProj : MoeLinearKind.Linear1))
            ?? throw new ArgumentException($"layer {layer} has no {gate} MoE gate.");
        var device = owner.Experts[0].weight!.device;
        var a = tensor(attribute.ToVector(), device: device).unsqueeze(0);                  // [1, 8]
        var logits = owner.Gate.Logits(a).squeeze(0);                                      // [E]
        if (noiseStd > 0)
            logits = logits.Plus(TorchScalar.Use(noiseStd, std => randn(logits.shape, generator: generator, device: device).mul_(std)));
        var probs = logits.softmax(-1);
        var (_, idx) = logits.topk(model.Config.TopK);                                     // highest first
        var chosen = probs.index_select(0, idx);
        // Renormalise as deepspeed's top2gating: g /= max(Σ g, eps(float32)).
        var weights = chosen.div(TorchScalar.Use(1.1920929e-07f, eps => chosen.sum().clamp_min(eps)));                 // [k]
        var experts = idx.cpu().data<long>().Select(i => (int)i).ToArray();
        var result = (weights.DetachFromDisposeScope(), experts);
        gates[(layer, gate, attribute)] = result;
        return result;
    }

    public void Dispose()
    {
        foreach (var (w, b) in merged.Values)
        {
            w.Dispose();
            b.Dispose();
        }
        foreach (var (g, _) in gates.Values) g.Dispose();
        merged.Clear();
        gates.Clear();
    }
}
