// Port of uniperceiver/modeling/embedding/video_embed.py VideoBaseEmbedding (images are 1-frame videos).
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>Fixed 2-D sin-cos spatial table and learned temporal table (key segment <c>embeddings_st_pos</c>).</summary>
public sealed class DividedSpaceTimePositions : nn.Module
{
    private readonly Embedding spatial_pos_embed;
    private readonly Embedding temporal_pos_embed;

    public DividedSpaceTimePositions(int patches, int frames, int hidden) : base(nameof(DividedSpaceTimePositions))
    {
        spatial_pos_embed = nn.Embedding(patches, hidden);
        temporal_pos_embed = nn.Embedding(frames, hidden);
        RegisterComponents();
    }

    public Tensor Spatial => spatial_pos_embed.weight!;

    public Tensor Temporal => temporal_pos_embed.weight!;
}

/// <summary>
/// v_{t,k} = LN_shared(Conv16x16(x_t)_k + T_pos[t] + S_pos[k]) for frames t and patches k (row-major 14×14),
/// frame-major order. LN_shared is the text LayerNorm (SHARE_LAYERNORM); the type embedding is not added
/// unless the config says so (ADD_TYPE_EMBED False in the released configs).
/// </summary>
public sealed class VideoBaseEmbedding : nn.Module
{
    private readonly Conv2d embeddings;
    private readonly LayerNorm embeddings_norm;
    private readonly DividedSpaceTimePositions embeddings_st_pos;
    private readonly Embedding embeddings_type;
    private readonly bool addType;
    private readonly int maxFrames;

    public VideoBaseEmbedding(UniPerceiverConfig config) : base(nameof(VideoBaseEmbedding))
    {
        embeddings = nn.Conv2d(3, config.Hidden, config.Patch, stride: config.Patch);
        embeddings_norm = nn.LayerNorm(config.Hidden, config.LayerNormEps);
        embeddings_st_pos = new DividedSpaceTimePositions(config.PatchesPerFrame, config.MaxFrames, config.Hidden);
        embeddings_type = nn.Embedding(1, config.Hidden);
        addType = config.VideoAddTypeEmbed;
        maxFrames = config.MaxFrames;
        RegisterComponents();
    }

    /// <summary>pixels: [B, T, 3, S, S] preprocessed; sharedNorm: the text LayerNorm. Returns [B, T·P, D].</summary>
    public Tensor Forward(Tensor pixels, LayerNorm sharedNorm)
    {
        if (pixels.dim() != 5) throw new ArgumentException($"pixels must be [B, T, 3, H, W], got [{string.Join(", ", pixels.shape)}].");
        long b = pixels.size(0), t = pixels.size(1);
        if (t > maxFrames) throw new ArgumentException($"{t} frames exceed the model's temporal table ({maxFrames} frames).");
        using var frames = pixels.reshape(b * t, pixels.size(2), pixels.size(3), pixels.size(4));
        using var conv = embeddings.forward(frames);                               // [B·T, D, 14, 14]
        using var patches = conv.flatten(2).transpose(1, 2);                      // [B·T, P, D]
        long p = patches.size(1), d = patches.size(2);
        using var spatial = embeddings_st_pos.Spatial.narrow(0, 0, p);            // [P, D]
        using var temporal = embeddings_st_pos.Temporal.narrow(0, 0, t);          // [T, D]
        using var withSpace = patches.reshape(b, t, p, d).Plus(spatial);           // [B, T, P, D]
        using var withTime = withSpace.PlusInPlace(temporal.unsqueeze(1));
        if (addType) withTime.PlusInPlace(embeddings_type.weight![0]);
        using var flat = withTime.reshape(b, t * p, d);
        return sharedNorm.forward(flat);
    }
}
