// Port of uniperceiver/modeling/encoder/unified_bert_encoder.py UnifiedBertEncoder (no final LayerNorm).
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>The shared encoder: a stack of pre-norm layers (key segment <c>fused_encoder.layers.{i}</c>).</summary>
public sealed class UnifiedBertEncoder : nn.Module
{
    private readonly ModuleList<MoETransformerEncoderLayer> layers;

    public UnifiedBertEncoder(UniPerceiverConfig config) : base(nameof(UnifiedBertEncoder))
    {
        layers = nn.ModuleList(Enumerable.Range(0, config.Layers).Select(i => new MoETransformerEncoderLayer(i, config)).ToArray());
        RegisterComponents();
    }

    public int Count => layers.Count;

    public MoETransformerEncoderLayer this[int layer] => layers[layer];

    /// <summary>x: [B, N, D] (not modified). Returns the encoder output [B, N, D], owned by the caller.
    /// With <see cref="EncoderPass.LayerInputs"/> set, also appends copies of every layer input and the output.</summary>
    public Tensor Forward(Tensor x, EncoderPass pass)
    {
        Tensor h = x.alias();
        for (int i = 0; i < layers.Count; i++)
        {
            pass.LayerInputs?.Add(h.clone());
            var next = layers[i].Forward(h, pass, i == layers.Count - 1 ? pass.OutputTokens : null);
            h.Dispose();
            h = next;
        }
        pass.LayerInputs?.Add(h.clone());
        return h;
    }
}
