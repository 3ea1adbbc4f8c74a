// Ports the DeepSpeed -> current key renaming of the reference's tools/convertmoe.ipynb (reference doc §5.1).
namespace UniPerceiverMoe.Model.Checkpoints;

public static class DeepSpeedKeyMap
{
    /// <summary>Applied in this order, each as a plain substring replacement, exactly as the notebook's mapping_dict.</summary>
    public static readonly IReadOnlyList<(string From, string To)> Renames = new[]
    {
        ("encoder.", "fused_encoder."),
        ("attention.self.qkv_proj", "self_attn.qkv_proj"),
        ("deepspeed_moe.gate", "gate"),
        ("deepspeed_moe.experts", "experts"),
        ("attention.output.dense", "self_attn.dense"),
        ("attention_output.residual_scale", "gamma_1"),
        ("ffn.dense.", "linear1."),
        ("ffn.dense2.", "linear2."),
        ("ffn_output.residual_scale", "gamma_2"),
        ("LayerNormModules.0.", "norm1."),
        ("LayerNormModules.1.", "norm2."),
        ("predictor.", "loss_prepare."),
    };

    /// <summary>The converter drops these (the DeepSpeed model's separate image embedding).</summary>
    public const string DroppedPrefix = "visual_embed";

    private static readonly string[] Markers =
        { "deepspeed_moe.", "LayerNormModules.", "attention.self.", "attention.output.", "residual_scale", "ffn.dense" };

    /// <summary>True when <paramref name="keys"/> use DeepSpeed-era names. Current-name dicts (any key under
    /// <c>fused_encoder.</c>) never match, so renaming is never applied twice ("encoder." is a substring of "fused_encoder.").</summary>
    public static bool IsDeepSpeedNamed(IEnumerable<string> keys)
    {
        var list = keys as IReadOnlyCollection<string> ?? keys.ToList();
        if (list.Any(k => k.StartsWith("fused_encoder.", StringComparison.Ordinal))) return false;
        return list.Any(k => k.StartsWith("encoder.", StringComparison.Ordinal) || k.StartsWith("predictor.", StringComparison.Ordinal)
            || k.StartsWith(DroppedPrefix, StringComparison.Ordinal) || Markers.Any(m => k.Contains(m, StringComparison.Ordinal)));
    }

    /// <summary>The current name of DeepSpeed key <paramref name="key"/>, or null when the converter drops it.</summary>
    public static string? Rename(string key)
    {
        if (key.StartsWith(DroppedPrefix, StringComparison.Ordinal)) return null;
        foreach (var (from, to) in Renames) key = key.Replace(from, to, StringComparison.Ordinal);
        return key;
    }

    /// <summary>LayerScale factors are [1, 1, D] in DeepSpeed files and [D] now (the notebook's squeeze(1).squeeze(0)).</summary>
    public static bool IsResidualScale(string deepSpeedKey) => deepSpeedKey.EndsWith("residual_scale", StringComparison.Ordinal);
}
