// Port of uniperceiver/modeling/layers/transformer_encoder_moe_layer.py MoETransformerEncoderLayer (norm_first, LayerScale).
using TorchSharp;
using TorchSharp.Modules;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Routing.Requests;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// Pre-norm block with LayerScale: x += γ1 ⊙ Attn(LN1(x)); x += γ2 ⊙ linear2(GELU(linear1(LN2(x)))). The tail after
/// attention is <see cref="LayerTail.Compute"/> and the FFN <see cref="FfnRequest.Ffn"/>, the code fused expert requests run.
/// GELU is exact (erf). In MoE layers each linear is merged per route separately (GELU between merged linears).
/// </summary>
public sealed class MoETransformerEncoderLayer : nn.Module
{
    private readonly LayerNorm norm1;
    private readonly LayerNorm norm2;
    private readonly MoEAttentionBlock self_attn;
    private readonly nn.Module linear1;
    private readonly nn.Module linear2;
    private readonly Parameter gamma_1;
    private readonly Parameter gamma_2;
    private readonly int layer;
    private readonly DenseLinearPanels densePanels = new();
    private readonly double norm2Eps;

    public MoETransformerEncoderLayer(int layer, UniPerceiverConfig config) : base(nameof(MoETransformerEncoderLayer))
    {
        this.layer = layer;
        int d = config.Hidden;
        bool moe = config.IsMoeLayer(layer);
        norm1 = nn.LayerNorm(d, config.LayerNormEps);
        norm2 = nn.LayerNorm(d, config.LayerNormEps);
        norm2Eps = config.LayerNormEps;
        self_attn = new MoEAttentionBlock(layer, config, moe && config.MoeAttention);
        linear1 = moe && config.MoeFfn ? new TaskMoE(d, config.Ffn, config) : nn.Linear(d, config.Ffn);
        linear2 = moe && config.MoeFfn ? new TaskMoE(config.Ffn, d, config) : nn.Linear(config.Ffn, d);
        gamma_1 = nn.Parameter(TorchScalar.Use(1e-3f, g => full(d, g)));
        gamma_2 = nn.Parameter(TorchScalar.Use(1e-3f, g => full(d, g)));
        RegisterComponents();
    }

    internal MoEAttentionBlock SelfAttention => self_attn;

    internal nn.Module Linear1 => linear1;

    internal nn.Module Linear2 => linear2;

    /// <summary>x: [B, N, D] (not modified). Returns the layer output [B, N, D], owned by the caller; with
    /// <paramref name="outputTokens"/> set, only those tokens' outputs [B, outputTokens.Count, D] (their attention
    /// still sees all N tokens, and all N give keys and values).</summary>
    public Tensor Forward(Tensor x, EncoderPass pass, TokenSpan? outputTokens = null)
    {
        if (outputTokens is { } span && span.IsAll((int)x.size(1))) outputTokens = null;
        // Every intermediate of the layer (views included) dies with this scope; the output and the captured
        // keys/values move to the caller's scope (or to none).
        using var scope = NewDisposeScope();
        if (outputTokens is null && AllMoe && pass.CapturedKv is null && pass.Past is null && pass.Cache is null && pass.KeyBias is null
            && pass.Executor.TryApplyLayer(layer, x, Whole, pass.Routing) is { } whole)
            return AdoptIntoOuterScope(whole);
        using var h1 = norm1.forward(x);
        using var context = self_attn.Context(h1, pass, outputTokens);
        if (pass.CapturedKv?[layer] is { } captured)
        {
            captured.K.MoveToOuterDisposeScope();
            captured.V.MoveToOuterDisposeScope();
        }
        if (outputTokens is { } kept)
        {
            pass = pass.ForTokens(kept);
            x = x.narrow(1, kept.Start, kept.Count);                                  // [B, kept, D], a view in this scope
        }
        if (TailIsMoe && pass.Executor.TryApplyTail(layer, context, x, Tail, pass.Routing) is { } fused)
            return AdoptIntoOuterScope(fused);
        // The tail's one copy of its math, with this layer's own out-projection, LN2 and FFN.
        var tailPass = pass;
        return LayerTail.Compute(context, x, gamma_1, gamma_2, norm2.forward, c => self_attn.OutProjection(c, tailPass), h => Ffn(h, tailPass))
            .MoveToOuterDisposeScope();
    }

    /// <summary>An executor's result belongs to no dispose scope (it may come from another thread): hand the caller a
    /// handle in its scope, as the unfused path does, and release the unowned one.</summary>
    private static Tensor AdoptIntoOuterScope(Tensor unowned)
    {
        using (unowned) return unowned.alias().MoveToOuterDisposeScope();
    }

    /// <summary>qkv too: the whole layer can go to one expert group.</summary>
    private bool AllMoe => TailIsMoe && self_attn.QkvProj is not Linear;

    /// <summary>A new <see cref="WholeLayer"/>: γ1, γ2, LN2 and LN1 parameters [6, D] (the caller owns them).</summary>
    internal WholeLayer Whole() =>
        new(StackDetached(gamma_1, gamma_2, norm2.weight!, norm2.bias!, norm1.weight!, norm1.bias!), norm2Eps, self_attn.Heads);

    /// <summary>Out-projection, linear1 and linear2 are all MoE: the tail can go to one expert group.</summary>
    private bool TailIsMoe => self_attn.DenseProj is not Linear && linear1 is not Linear && linear2 is not Linear;

    /// <summary>A new <see cref="LayerTail"/> of the current γ1, γ2 and LN2 parameters (the caller owns its Params;
    /// 4·D floats, built only when an executor fuses the tail).</summary>
    internal LayerTail Tail() => new(StackDetached(gamma_1, gamma_2, norm2.weight!, norm2.bias!), norm2Eps);

    /// <summary>[n, D]: the parameters' current values as rows, in no dispose scope and with no gradient.</summary>
    private static Tensor StackDetached(params Tensor[] parameters)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();   // releases the detached handles
        return stack(parameters.Select(p => p.detach()).ToArray(), 0).DetachFromDisposeScope();
    }

    /// <summary>linear2(gelu(linear1(h))): in one executor call when both are MoE and the executor fuses them.</summary>
    private Tensor Ffn(Tensor h, EncoderPass pass)
    {
        if (linear1 is not Linear && linear2 is not Linear && pass.Executor.TryApplyFfn(layer, h, pass.Routing) is { } fused) return fused;
        return FfnRequest.Ffn(h, a => Project(linear1, MoeLinearKind.Linear1, a, pass), a => Project(linear2, MoeLinearKind.Linear2, a, pass));
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) densePanels.Dispose();
        base.Dispose(disposing);
    }

    private Tensor Project(nn.Module linear, MoeLinearKind kind, Tensor x, EncoderPass pass) =>
        linear is Linear plain ? densePanels.Apply(plain, kind, x) : pass.Executor.Apply(new MoeSite(layer, kind), x, pass.Routing);
}
