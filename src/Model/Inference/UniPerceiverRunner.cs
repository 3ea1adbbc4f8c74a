using TorchSharp;
using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Inference;

/// <summary>
/// Builds fused sequences ([spe; tokens]) and runs them through the encoder with a given MoE executor. Stateless apart
/// from the model and the executor; safe to call from one thread at a time per instance of the executor's caches.
/// </summary>
public sealed class UniPerceiverRunner
{
    /// <summary>Id of &lt;|spe|&gt;, the prefix (and caption query) token.</summary>
    public const long SpeId = 49410;

    public UniPerceiverRunner(UniPerceiverMoeModel model, IMoeLinearExecutor executor)
    {
        Model = model;
        Executor = executor;
    }

    public UniPerceiverMoeModel Model { get; }

    public IMoeLinearExecutor Executor { get; }

    public Device Device => Model.Head.parameters().First().device;

    /// <summary>The spe prefix embedding LN_tok(E[spe]) [D] (no position/type: OLD_CHECKPONT). Caller owns it.</summary>
    public Tensor SpePrefix()
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        return Model.TokenEmbed.SpePrefix(SpeId).MoveToOuterDisposeScope();
    }

    /// <summary>[spe; visual patches] for pixels [B, T, 3, S, S]: [B, 1 + T·P, D]. Caller owns it.</summary>
    public Tensor EmbedVisual(Tensor pixels)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var visual = Model.VideoEmbed.Forward(pixels.to(Device), Model.TokenEmbed.Norm);
        return PrefixSpe(visual).MoveToOuterDisposeScope();
    }

    /// <summary>[spe; text] for ids [B, L] (positions 0..L-1): [B, 1 + L, D]. Caller owns it.</summary>
    public Tensor EmbedText(Tensor ids)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var positions = TorchScalar.Arange(ids.size(1), Device);
        var text = Model.TokenEmbed.Forward(ids.to(Device), positions);
        return PrefixSpe(text).MoveToOuterDisposeScope();
    }

    /// <summary>Text tokens embedded at explicit positions, no spe prefix: ids [B, L], positions [L] → [B, L, D].</summary>
    public Tensor EmbedTokens(Tensor ids, Tensor positions)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        return Model.TokenEmbed.Forward(ids.to(Device), positions.to(Device)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Additive key bias [B, 1, 1, 1 + L] for a text pad mask [B, L] (1 = pad): the spe slot is never masked,
    /// padded keys get the mask value (-10000). Null when nothing is padded.
    /// </summary>
    public Tensor? KeyBiasForPadding(Tensor? padMask)
    {
        if (padMask is null) return null;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var pad = padMask.to(Device).to_type(ScalarType.Float32);
        if (pad.sum().item<float>() == 0) return null;
        var spe = zeros(pad.size(0), 1, device: Device);
        var keys = cat([spe, pad], 1);
        return TorchScalar.Use(Model.Config.MaskValue, m => keys.mul(m)).view(pad.size(0), 1, 1, -1).MoveToOuterDisposeScope();
    }

    /// <summary>Runs the encoder over an embedded sequence x [B, N, D]. The caller owns the result.</summary>
    public EncodedSequence Encode(Tensor x, TokenRouting routing, Tensor? keyBias = null,
        bool keepLayerInputs = false, bool captureKv = false, IReadOnlyList<LayerKv>? past = null, KvCache? cache = null, TokenSpan? outputTokens = null)
    {
        using var _ = no_grad();
        var inputs = keepLayerInputs ? new List<Tensor>() : null;
        var kv = captureKv ? new LayerKv?[Model.Config.Layers] : null;
        var pass = new EncoderPass(routing, Executor) { KeyBias = keyBias, LayerInputs = inputs, CapturedKv = kv, Past = past, Cache = cache, OutputTokens = outputTokens };
        var final = Model.Encoder.Forward(x, pass);
        return new EncodedSequence(final, inputs, kv);
    }

    /// <summary>P(h[:, 0]) normalised: the sequence feature [B, D] from an encoder output. Caller owns it.</summary>
    public Tensor SpeFeature(Tensor final)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        return Model.Head.Project(final.select(1, 0)).MoveToOuterDisposeScope();
    }

    /// <summary>[spe; tokens]; call inside a dispose scope (intermediates are left to it).</summary>
    private Tensor PrefixSpe(Tensor tokens)
    {
        var spe = Model.TokenEmbed.SpePrefix(SpeId);
        var expanded = spe.view(1, 1, -1).expand(tokens.size(0), 1, -1);
        return cat([expanded, tokens], 1);
    }
}
