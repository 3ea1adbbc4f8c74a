// Port of uniperceiver/modeling/embedding/token_embed.py TokenBaseEmbedding (POS_BEFORE, learned positions, type row 0).
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>Learned position table (key segment <c>embeddings_pos.position_embeddings</c>).</summary>
public sealed class NNEmbeddingEncoding : nn.Module
{
    private readonly Embedding position_embeddings;

    public NNEmbeddingEncoding(int positions, int hidden) : base(nameof(NNEmbeddingEncoding))
    {
        position_embeddings = nn.Embedding(positions, hidden);
        RegisterComponents();
    }

    public Tensor Lookup(Tensor positions) => position_embeddings.forward(positions);
}

/// <summary>e_i = LN_tok(E_word[x_i] + E_pos[p_i] + E_type[0]); the spe prefix is LN_tok(E_word[spe]) alone (OLD_CHECKPONT).</summary>
public sealed class TokenBaseEmbedding : nn.Module
{
    private readonly Embedding embeddings;
    private readonly NNEmbeddingEncoding embeddings_pos;
    private readonly Embedding embeddings_token_type;
    private readonly LayerNorm embeddings_norm;

    public TokenBaseEmbedding(UniPerceiverConfig config) : base(nameof(TokenBaseEmbedding))
    {
        embeddings = nn.Embedding(config.VocabSize, config.Hidden);
        embeddings_pos = new NNEmbeddingEncoding(config.TextPositions, config.Hidden);
        embeddings_token_type = nn.Embedding(config.TokenTypes, config.Hidden);
        embeddings_norm = nn.LayerNorm(config.Hidden, config.LayerNormEps);
        RegisterComponents();
    }

    /// <summary>The shared text/visual embedding LayerNorm (SHARE_LAYERNORM).</summary>
    public LayerNorm Norm => embeddings_norm;

    /// <summary>ids: [B, L] int64; positions: [L] or [B, L] int64. Returns [B, L, D].</summary>
    public Tensor Forward(Tensor ids, Tensor positions)
    {
        using var word = embeddings.forward(ids);
        using var pos = embeddings_pos.Lookup(positions);
        using var typeId = zeros(1, ScalarType.Int64, device: ids.device);
        using var type = embeddings_token_type.forward(typeId);                 // [1, D]
        using var sum = word.Plus(pos).PlusInPlace(type);
        return embeddings_norm.forward(sum);
    }

    /// <summary>The <c>&lt;|spe|&gt;</c> prefix embedding LN_tok(E_word[id]) without position or type: [D].</summary>
    public Tensor SpePrefix(long speId)
    {
        using var id = tensor(new[] { speId }, device: embeddings.weight!.device);
        using var word = embeddings.forward(id);
        using var normed = embeddings_norm.forward(word);
        return normed.squeeze(0);
    }
}
