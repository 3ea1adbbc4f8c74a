// Port of the Uni-Perceiver-MoE module tree (token_embed, video_embed, fused_encoder, loss_prepare).
using TorchSharp;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// The whole model as the checkpoint names it. Submodule fields are named like the state-dict key segments so
/// <c>state_dict()</c> keys equal the reference's. Inference entry points live in <see cref="UniPerceiverMoe.Model.Inference"/>.
/// </summary>
public sealed class UniPerceiverMoeModel : nn.Module
{
    private readonly TokenBaseEmbedding token_embed;
    private readonly VideoBaseEmbedding video_embed;
    private readonly UnifiedBertEncoder fused_encoder;
    private readonly EmbedClsAsRetrievalPredictor loss_prepare;

    public UniPerceiverMoeModel(UniPerceiverConfig config) : base(nameof(UniPerceiverMoeModel))
    {
        Config = config.Validate();
        token_embed = new TokenBaseEmbedding(config);
        video_embed = new VideoBaseEmbedding(config);
        fused_encoder = new UnifiedBertEncoder(config);
        loss_prepare = new EmbedClsAsRetrievalPredictor(config);
        RegisterComponents();
    }

    public UniPerceiverConfig Config { get; }

    public TokenBaseEmbedding TokenEmbed => token_embed;

    public VideoBaseEmbedding VideoEmbed => video_embed;

    public UnifiedBertEncoder Encoder => fused_encoder;

    public EmbedClsAsRetrievalPredictor Head => loss_prepare;

    /// <summary>The Conditional-MoE linear at <paramref name="site"/>, or null when that linear is dense.</summary>
    public TaskMoE? MoeAt(Routing.MoeSite site)
    {
        var layer = fused_encoder[site.Layer];
        return site.Kind switch
        {
            Routing.MoeLinearKind.QkvProj => layer.SelfAttention.QkvProj as TaskMoE,
            Routing.MoeLinearKind.Dense => layer.SelfAttention.DenseProj as TaskMoE,
            Routing.MoeLinearKind.Linear1 => layer.Linear1 as TaskMoE,
            _ => layer.Linear2 as TaskMoE,
        };
    }

    /// <summary>Every MoE site of the model, layer-major.</summary>
    public IEnumerable<Routing.MoeSite> MoeSites() =>
        from l in Enumerable.Range(0, Config.Layers)
        from k in Enum.GetValues<Routing.MoeLinearKind>()
        let s = new Routing.MoeSite(l, k)
        where MoeAt(s) is not null
        select s;
}
