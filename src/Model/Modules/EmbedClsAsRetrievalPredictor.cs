// Port of uniperceiver/modeling/predictor/embed_cls_predictor.py EmbedClsAsRetrievalPredictor (OUTPUT_PROJ, PRED_USE_NORM).
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>P(h) = normalize(proj(ln_post(h))); task temperatures τ = min(exp(logit_scale_*), clamp).</summary>
public sealed class EmbedClsAsRetrievalPredictor : nn.Module
{
    /// <summary>The temperature names the released checkpoints store (key <c>loss_prepare.logit_scale_{name}</c>).</summary>
    public static readonly string[] TemperatureNames =
    [
        "img_cls", "video_cls", "text_mlm", "text_caption", "caption", "mlm", "retrieve",
        "tqa_mlm", "tqa_caption", "tqa_retrieve", "downstream",
    ];

    private readonly LayerNorm ln_post;
    private readonly Linear proj;
    private readonly DenseLinearPanels projPanels = new();
    private readonly float clamp;

    public EmbedClsAsRetrievalPredictor(UniPerceiverConfig config) : base(nameof(EmbedClsAsRetrievalPredictor))
    {
        ln_post = nn.LayerNorm(config.Hidden, config.LayerNormEps);
        proj = nn.Linear(config.Hidden, config.Hidden);
        clamp = config.TemperatureClamp;
        RegisterComponents();
        // The scales are direct scalar parameters of loss_prepare (key loss_prepare.logit_scale_img_cls, shape []).
        foreach (var name in TemperatureNames)
        {
            register_parameter("logit_scale_" + name, nn.Parameter(tensor(MathF.Log(1f / 0.07f))));
        }
    }

    /// <summary>h: [..., D]. Returns L2-normalised projected features [..., D], owned by the caller.</summary>
    public Tensor Project(Tensor h)
    {
        using var normed = ln_post.forward(h);
        using var projected = projPanels.Apply(proj, normed);
        return nn.functional.normalize(projected, p: 2, dim: -1);
    }

    /// <summary>τ for a temperature name (e.g. "img_cls", "caption"): min(exp(logit_scale), clamp).</summary>
    public float Temperature(string name)
    {
        // Looked up in the module's own registry on every call: moving the module (to a GPU, another dtype) replaces
        // its parameters with new tensors and frees the old ones, so a reference kept aside would dangle.
        if (!TemperatureNames.Contains(name) || get_parameter("logit_scale_" + name) is not { } scale)
            throw new ArgumentException($"unknown temperature '{name}' (known: {string.Join(", ", TemperatureNames)}).");
        using var value = scale.to_type(ScalarType.Float32);
        return MathF.Min(MathF.Exp(value.item<float>()), clamp);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) projPanels.Dispose();
        base.Dispose(disposing);
    }
}
