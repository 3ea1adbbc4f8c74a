using TorchSharp;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

using UniPerceiverMoe.Model;

namespace UniPerceiverMoe.Demo.Training;

/// <summary>
/// Grad-enabled counterparts of UniPerceiverRunner's embed/encode steps (the runner always runs under no_grad).
/// Every returned tensor lives in the caller's dispose scope and carries the autograd graph.
/// </summary>
public static class TrainingEncoder
{
    /// <summary>[spe; tokens]: tokens [B, L, D] → [B, 1 + L, D] with spe = LN_tok(E[&lt;|spe|&gt;]) (no position/type).</summary>
    public static Tensor PrefixSpe(UniPerceiverMoeModel model, Tensor tokens)
    {
        var spe = model.TokenEmbed.SpePrefix(UniPerceiverRunner.SpeId);                       // [D]
        return cat([spe.view(1, 1, -1).expand(tokens.size(0), 1, -1), tokens], 1);
    }

    /// <summary>Runs the encoder over x [B, N, D] with <paramref name="routing"/> and an optional additive bias.</summary>
    public static Tensor Encode(UniPerceiverMoeModel model, IMoeLinearExecutor executor, Tensor x, TokenRouting routing, Tensor? bias = null) =>
        model.Encoder.Forward(x, new EncoderPass(routing, executor) { KeyBias = bias });

    /// <summary>
    /// Normalised spe features [n, D] of target texts (each already ending in EOS) encoded as [spe, text] with
    /// <paramref name="attribute"/>; right-padded with id 0 and the padded keys masked (−10000) as the reference collator.
    /// </summary>
    public static Tensor TextFeatures(UniPerceiverMoeModel model, IMoeLinearExecutor executor,
        IReadOnlyList<IReadOnlyList<long>> sequences, MoeAttribute attribute)
    {
        int n = sequences.Count, length = sequences.Max(s => s.Count);
        var ids = new long[n * length];
        var pad = new float[n * (length + 1)];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < length; j++)
            {
                bool real = j < sequences[i].Count;
                ids[i * length + j] = real ? sequences[i][j] : 0;
                if (!real) pad[i * (length + 1) + 1 + j] = model.Config.MaskValue;
            }
        var device = model.Head.parameters().First().device;
        var idTensor = tensor(ids, [n, length], device: device);
        var positions = TorchScalar.Arange(length, device);
        var x = PrefixSpe(model, model.TokenEmbed.Forward(idTensor, positions));                // [n, 1 + L, D]
        var bias = sequences.All(s => s.Count == length) ? null : tensor(pad, [n, 1, 1, length + 1], device: device);
        var h = Encode(model, executor, x, TokenRouting.Uniform(length + 1, attribute), bias);
        return model.Head.Project(h.select(1, 0));
    }

    /// <summary>The constrained vocabulary bank [V, D] with gradients: each id v as [spe, v, EOS] (Vocab_Word attribute).</summary>
    public static Tensor BankRows(UniPerceiverMoeModel model, IMoeLinearExecutor executor, IReadOnlyList<long> wordIds) =>
        TextFeatures(model, executor, wordIds.Select(v => (IReadOnlyList<long>)[v, Model.Decoding.VocabularyBank.EndOfText]).ToArray(),
            MoeAttribute.VocabWord);

    /// <summary>τ = min(exp(loss_prepare.logit_scale_{name}), clamp) as a differentiable scalar (LEARN_TEMP).</summary>
    public static Tensor Temperature(UniPerceiverMoeModel model, string name)
    {
        var scale = model.named_parameters().FirstOrDefault(p => p.name == "loss_prepare.logit_scale_" + name).parameter
            ?? throw new ArgumentException($"unknown temperature '{name}'.");
        return TorchScalar.Use(model.Config.TemperatureClamp, max => scale.exp().clamp_max(max));
    }
}
