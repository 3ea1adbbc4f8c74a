using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>Keys and values of one layer for some tokens: [B, H, T, head_dim] each. Owned by whoever holds the cache.</summary>
public sealed class LayerKv : IDisposable
{
    public LayerKv(Tensor k, Tensor v)
    {
        K = k;
        V = v;
    }

    public Tensor K { get; }
    public Tensor V { get; }

    public int Length => (int)K.size(2);

    public void Dispose()
    {
        K.Dispose();
        V.Dispose();
    }
}

/// <summary>
/// Everything a forward pass through the encoder needs besides the hidden states: the routing of the current tokens,
/// the key padding mask, the MoE executor, and optionally the cached keys/values of earlier tokens (decoding).
/// </summary>
public sealed class EncoderPass
{
    public EncoderPass(TokenRouting routing, IMoeLinearExecutor executor)
    {
        Routing = routing;
        Executor = executor;
    }

    /// <summary>Routing of the tokens being computed (the query tokens), not of the cached ones.</summary>
    public TokenRouting Routing { get; }

    public IMoeLinearExecutor Executor { get; }

    /// <summary>Additive attention bias [B, 1, 1, T_keys] (0 or mask value), over cached keys then current keys; null = none.
    /// Owned by the creator of the pass.</summary>
    public Tensor? KeyBias { get; init; }

    /// <summary>Per layer: keys/values of earlier tokens to attend to (batch 1 is broadcast to B). Null = none.</summary>
    public IReadOnlyList<LayerKv>? Past { get; init; }

    /// <summary>When set, every layer writes the current tokens' keys/values into this cache after its kept slots and
    /// attends to the kept slots plus the current tokens (see <see cref="KvCache"/>); <see cref="Past"/> must be null.
    /// Owned by the creator of the pass.</summary>
    public KvCache? Cache { get; init; }

    /// <summary>When set, each layer stores the keys/values of the current tokens here (index = layer). Caller owns them.</summary>
    public LayerKv?[]? CapturedKv { get; init; }

    /// <summary>When set, the last layer computes outputs for only these tokens (every token still gives its keys and
    /// values): for passes that keep one row, like the vocabulary bank's spe token or a decode step's next query. The
    /// final output is then [B, OutputTokens.Count, D].</summary>
    public TokenSpan? OutputTokens { get; init; }

    /// <summary>This pass for the tokens of <paramref name="span"/> only (routing sliced; everything else shared).</summary>
    internal EncoderPass ForTokens(TokenSpan span) => new(Routing.Slice(span.Start, span.Count), Executor)
    {
        KeyBias = KeyBias, Past = Past, Cache = Cache, CapturedKv = CapturedKv, LayerInputs = LayerInputs,
    };

    /// <summary>When set, receives the input of every layer plus the final output (L+1 tensors). Caller owns them.</summary>
    public List<Tensor>? LayerInputs { get; init; }
}
