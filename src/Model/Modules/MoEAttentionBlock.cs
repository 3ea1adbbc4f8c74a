// Port of uniperceiver/modeling/layers/transformer_encoder_moe_layer.py MoEAttentionBlock (UNIFY_QKV, QKV_BIAS).
using TorchSharp;
using TorchSharp.Modules;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// Multi-head self-attention with a unified qkv projection (rows [0:D]=q, [D:2D]=k, [2D:3D]=v, heads contiguous) and
/// an output projection <c>dense</c>. In MoE layers both are <see cref="TaskMoE"/>; dense reuses the qkv gate decision.
/// </summary>
public sealed class MoEAttentionBlock : nn.Module
{
    private readonly nn.Module qkv_proj;
    private readonly nn.Module dense;
    private readonly int layer;
    private readonly DenseLinearPanels densePanels = new();
    private readonly int heads;
    private readonly int headDim;

    public MoEAttentionBlock(int layer, UniPerceiverConfig config, bool moe) : base(nameof(MoEAttentionBlock))
    {
        this.layer = layer;
        heads = config.Heads;
        headDim = config.HeadDim;
        int d = config.Hidden;
        qkv_proj = moe ? new TaskMoE(d, 3 * d, config) : nn.Linear(d, 3 * d);
        dense = moe ? new TaskMoE(d, d, config) : nn.Linear(d, d);
        RegisterComponents();
    }

    internal nn.Module QkvProj => qkv_proj;

    internal int Heads => heads;

    internal nn.Module DenseProj => dense;

    /// <summary>h: [B, N, D] (already normed). Returns [B, N, D], owned by the caller.</summary>
    public Tensor Forward(Tensor h, EncoderPass pass)
    {
        using var context = Context(h, pass);
        return OutProjection(context, pass);
    }

    /// <summary>The out-projection of <paramref name="context"/> [B, N, D] (not modified).</summary>
    public Tensor OutProjection(Tensor context, EncoderPass pass) => Project(dense, MoeLinearKind.Dense, context, pass);

    /// <summary>Attention up to, not including, the out-projection: the heads' context merged to [B, N, D]. Captures
    /// this layer's keys and values when the pass asks for them. With <paramref name="queries"/> set (a pass without
    /// past or capture), only those tokens query: [B, queries.Count, D]; every token still gives its keys and values
    /// (and a cache still keeps them all).</summary>
    public Tensor Context(Tensor h, EncoderPass pass, TokenSpan? queries = null)
    {
        long b = h.size(0), n = h.size(1);
        using var qkv = Project(qkv_proj, MoeLinearKind.QkvProj, h, pass);       // [B, N, 3D]
        if (queries is { } span)
        {
            span.CheckWithin((int)n);
            if (pass.CapturedKv is not null || pass.Past is not null)
                throw new ArgumentException("only a pass without past keys/values or capture can narrow its queries.");
            if (pass.Cache is null) return AttendSpan(qkv, span, heads, headDim, pass.KeyBias);
        }
        if (pass.CapturedKv is null && pass.Past?[layer] is null && pass.Cache is null) return Attend(qkv, heads, headDim, pass.KeyBias);
        using var qkvHeads = qkv.view(b, n, 3, heads, headDim).permute(2, 0, 3, 1, 4); // [3, B, H, N, hd]
        using var q = qkvHeads[0];
        var k = qkvHeads[1];
        var v = qkvHeads[2];
        if (pass.CapturedKv is { } capture) capture[layer] = new LayerKv(k.contiguous(), v.contiguous());

        var past = pass.Past?[layer];
        if (pass.Cache is { } cache)
        {
            if (past is not null) throw new ArgumentException("a pass takes either a key/value cache or past keys/values, not both.");
            using (k)
            using (v)
            {
                if (queries is not { } kept) return cache.Attend(layer, q, k, v, pass.KeyBias);       // [B, N, D]
                using var spanQ = q.narrow(2, kept.Start, kept.Count);
                using var spanBias = QueryRows(pass.KeyBias, kept, n);
                return cache.Attend(layer, spanQ, k, v, spanBias);                                    // [B, span, D]
            }
        }
        Tensor keys = k, values = v;
        if (past is not null && DecodeAttention.Handles(q, past.K, past.V, k, v, pass.KeyBias))
        {
            // A caption's first query against the image prefix: the past keys/values read in place, no concatenation.
            using (k)
            using (v)
                return DecodeAttention.Apply(q, past.K, past.V, k, v, pass.KeyBias);             // [B, N, D]
        }
        if (past is not null)
        {
            using var pk = past.K.size(0) == b ? past.K.alias() : past.K.expand(b, -1, -1, -1);
            using var pv = past.V.size(0) == b ? past.V.alias() : past.V.expand(b, -1, -1, -1);
            keys = cat([pk, k], 2);
            values = cat([pv, v], 2);
            k.Dispose();
            v.Dispose();
        }
        if (DecodeAttention.Handles(q, keys, values, pass.KeyBias))
        {
            // A decode pass (a few queries against the cache): the same attention without two MKL calls per head.
            var context = DecodeAttention.Apply(q, keys, values, pass.KeyBias);                  // [B, N, D]
            keys.Dispose();
            values.Dispose();
            return context;
        }
        // Scores = q·kᵀ/√hd + key bias (mask·-10000), softmax, ·v: scaled_dot_product_attention computes exactly that.
        using var ctx = nn.functional.scaled_dot_product_attention(q, keys, values, pass.KeyBias);   // [B, H, N, hd]
        keys.Dispose();
        values.Dispose();
        using var transposed = ctx.transpose(1, 2);
        return transposed.reshape(b, n, heads * headDim);                                   // [B, N, D]
    }

    /// <summary>Multi-head attention of a [B, N, 3D] qkv projection without a key/value cache: scaled dot product with
    /// the additive key bias, heads merged back to [B, N, D] (the context before the out-projection). The same
    /// operations as <see cref="Context"/>; expert groups that compute a whole layer call it too.</summary>
    public static Tensor Attend(Tensor qkv, int heads, int headDim, Tensor? keyBias)
    {
        long b = qkv.size(0), n = qkv.size(1);
        using var qkvHeads = qkv.view(b, n, 3, heads, headDim).permute(2, 0, 3, 1, 4); // [3, B, H, N, hd]
        using var q = qkvHeads[0];
        using var k = qkvHeads[1];
        using var v = qkvHeads[2];
        using var ctx = nn.functional.scaled_dot_product_attention(q, k, v, keyBias);   // [B, H, N, hd]
        using var transposed = ctx.transpose(1, 2);
        return transposed.reshape(b, n, heads * headDim);                                   // [B, N, D]
    }

    /// <summary>As <see cref="Attend"/> for the queries of the tokens in <paramref name="span"/>: [B, span.Count, D].</summary>
    private static Tensor AttendSpan(Tensor qkv, TokenSpan span, int heads, int headDim, Tensor? keyBias)
    {
        long b = qkv.size(0), n = qkv.size(1);
        using var qkvHeads = qkv.view(b, n, 3, heads, headDim).permute(2, 0, 3, 1, 4); // [3, B, H, N, hd]
        using var allQ = qkvHeads[0];
        using var q = allQ.narrow(2, span.Start, span.Count);                              // [B, H, span, hd]
        using var k = qkvHeads[1];
        using var v = qkvHeads[2];
        using var bias = QueryRows(keyBias, span, n);
        using var ctx = nn.functional.scaled_dot_product_attention(q, k, v, bias);         // [B, H, span, hd]
        using var transposed = ctx.transpose(1, 2);
        return transposed.reshape(b, span.Count, heads * headDim);                          // [B, span, D]
    }

    /// <summary>The rows of a key bias [.., N or 1, keys] that the queries of <paramref name="span"/> use: a bias with one
    /// row per query is narrowed to the span's rows, one broadcast over the queries is kept as it is (a new handle either
    /// way, or null).</summary>
    private static Tensor? QueryRows(Tensor? keyBias, TokenSpan span, long queries) =>
        keyBias is null ? null
        : keyBias.dim() >= 2 && keyBias.size(-2) == queries ? keyBias.narrow(keyBias.dim() - 2, span.Start, span.Count)
        : keyBias.alias();

    protected override void Dispose(bool disposing)
    {
        if (disposing) densePanels.Dispose();
        base.Dispose(disposing);
    }

    private Tensor Project(nn.Module linear, MoeLinearKind kind, Tensor x, EncoderPass pass) =>
        linear is Linear plain ? densePanels.Apply(plain, kind, x) : pass.Executor.Apply(new MoeSite(layer, kind), x, pass.Routing);
}
