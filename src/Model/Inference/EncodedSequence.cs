using UniPerceiverMoe.Model.Modules;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Inference;

/// <summary>The result of one encoder pass. Owns every tensor it holds.</summary>
public sealed class EncodedSequence : IDisposable
{
    internal EncodedSequence(Tensor final, List<Tensor>? layerInputs, LayerKv?[]? kv)
    {
        Final = final;
        LayerInputs = layerInputs;
        Kv = kv;
    }

    /// <summary>Encoder output [B, N, D] (no final LayerNorm); index 0 on the token axis is the spe slot.</summary>
    public Tensor Final { get; }

    /// <summary>Input of every layer plus the output (L+1 tensors [B, N, D]) when requested.</summary>
    public IReadOnlyList<Tensor>? LayerInputs { get; }

    /// <summary>Per-layer keys/values of every token when requested (the captioning history cache).</summary>
    public IReadOnlyList<LayerKv?>? Kv { get; private set; }

    /// <summary>Takes ownership of the key/value cache away from this object (it will not dispose them).</summary>
    public LayerKv[] DetachKv()
    {
        var kv = Kv?.Select(k => k ?? throw new InvalidOperationException("a layer did not capture its keys/values.")).ToArray()
            ?? throw new InvalidOperationException("this pass did not capture keys/values.");
        Kv = null;
        return kv;
    }

    public void Dispose()
    {
        Final.Dispose();
        if (LayerInputs is not null) foreach (var t in LayerInputs) t.Dispose();
        if (Kv is not null) foreach (var kv in Kv) kv?.Dispose();
    }
}
