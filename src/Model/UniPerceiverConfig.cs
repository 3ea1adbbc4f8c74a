// Hyper-parameters of Uni-Perceiver-MoE (uniperceiver/config/defaults.py + the released MoE-B/L configs).
using System.Text.Json;
using System.Text.Json.Nodes;

namespace UniPerceiverMoe.Model;

/// <summary>
/// Model shape. Defaults equal the released Uni-Perceiver-MoE-B checkpoint; <see cref="Large"/> is MoE-L.
/// MoE layers are the 0-based even layers (MOE_EXPERT_LOCATION 'odd') with experts in attention (qkv, dense) and FFN.
/// </summary>
public sealed record UniPerceiverConfig
{
    public int Layers { get; init; } = 12;
    public int Hidden { get; init; } = 768;
    public int Heads { get; init; } = 12;
    public int Ffn { get; init; } = 3072;
    public int Experts { get; init; } = 8;
    public int TopK { get; init; } = 2;
    public bool MoeAttention { get; init; } = true;
    public bool MoeFfn { get; init; } = true;
    /// <summary>0-based indices of the MoE layers; null means every even layer.</summary>
    public IReadOnlyList<int>? MoeLayerIndices { get; init; }
    public int AttributeLength { get; init; } = 8;
    public int VocabSize { get; init; } = 49411;
    public int ImageSize { get; init; } = 224;
    public int Patch { get; init; } = 16;
    public int MaxFrames { get; init; } = 8;
    public int TextPositions { get; init; } = 512;
    public int TokenTypes { get; init; } = 2;
    public double LayerNormEps { get; init; } = 1e-5;
    /// <summary>Value multiplied by the 0/1 key-padding mask and added to attention scores (the reference uses -10000, not -inf).</summary>
    public float MaskValue { get; init; } = -10000f;
    /// <summary>exp(logit_scale) is clamped to this value.</summary>
    public float TemperatureClamp { get; init; } = 100f;
    /// <summary>Add video_embed.embeddings_type[0] before the LayerNorm (ADD_TYPE_EMBED; False in the released configs).</summary>
    public bool VideoAddTypeEmbed { get; init; }

    public int HeadDim => Hidden / Heads;
    public int PatchesPerFrame => (ImageSize / Patch) * (ImageSize / Patch);

    public IReadOnlyList<int> MoeLayers =>
        MoeLayerIndices ?? Enumerable.Range(0, Layers).Where(i => i % 2 == 0).ToArray();

    public bool IsMoeLayer(int layer) => (MoeAttention || MoeFfn) && Experts > 1 && MoeLayers.Contains(layer);

    public static UniPerceiverConfig Base { get; } = new();

    public static UniPerceiverConfig Large { get; } = new() { Layers = 24, Hidden = 1024, Heads = 16, Ffn = 4096 };

    /// <summary>The golden fixture's tiny shape: 4 layers, hidden 64, 2 heads, FFN 256.</summary>
    public static UniPerceiverConfig Tiny { get; } = new() { Layers = 4, Hidden = 64, Heads = 2, Ffn = 256 };

    public static UniPerceiverConfig Named(string name) => name.ToLowerInvariant() switch
    {
        "base" or "b" or "moe-b" => Base,
        "large" or "l" or "moe-l" => Large,
        "tiny" => Tiny,
        _ => throw new ArgumentException($"unknown model size '{name}' (expected base, large or tiny, or a config.json path)."),
    };

    /// <summary>Validates the shape; throws with the offending field.</summary>
    public UniPerceiverConfig Validate()
    {
        if (Hidden % Heads != 0) throw new ArgumentException($"hidden {Hidden} is not divisible by heads {Heads}.");
        if (TopK < 1 || TopK > Experts) throw new ArgumentException($"top_k {TopK} must be in 1..experts ({Experts}).");
        if (ImageSize % Patch != 0) throw new ArgumentException($"image size {ImageSize} is not a multiple of patch {Patch}.");
        if (MoeLayers.Any(l => l < 0 || l >= Layers)) throw new ArgumentException($"MoE layers [{string.Join(", ", MoeLayers)}] outside 0..{Layers - 1}.");
        return this;
    }

    /// <summary>
    /// Reads a config.json in the golden-fixture layout (keys layers, hidden, heads, ffn, experts, top_k, moe_layers,
    /// moe_expert_type, vocab_size, image_size, patch, max_frames, text_position_max_len, token_type_vocab,
    /// layer_norm_eps, attention_mask_value, temperature_clamp, video_add_type_embed). Missing keys keep MoE-B defaults.
    /// </summary>
    public static UniPerceiverConfig FromJsonFile(string path)
    {
        JsonNode root;
        try { root = JsonNode.Parse(File.ReadAllText(path)) ?? throw new InvalidDataException("empty document"); }
        catch (Exception e) when (e is JsonException or InvalidDataException)
        {
            throw new InvalidDataException($"{path}: not a valid model config ({e.Message}).", e);
        }
        var c = new UniPerceiverConfig();
        int I(string k, int d) => root[k] is JsonValue v ? v.GetValue<int>() : d;
        double D(string k, double d) => root[k] is JsonValue v ? v.GetValue<double>() : d;
        string? type = root["moe_expert_type"]?.GetValue<string>();
        c = c with
        {
            Layers = I("layers", c.Layers),
            Hidden = I("hidden", c.Hidden),
            Heads = I("heads", c.Heads),
            Ffn = I("ffn", c.Ffn),
            Experts = I("experts", c.Experts),
            TopK = I("top_k", c.TopK),
            AttributeLength = I("attribute_length", c.AttributeLength),
            VocabSize = I("vocab_size", c.VocabSize),
            ImageSize = I("image_size", c.ImageSize),
            Patch = I("patch", c.Patch),
            MaxFrames = I("max_frames", c.MaxFrames),
            TextPositions = I("text_position_max_len", c.TextPositions),
            TokenTypes = I("token_type_vocab", c.TokenTypes),
            LayerNormEps = D("layer_norm_eps", c.LayerNormEps),
            MaskValue = (float)D("attention_mask_value", c.MaskValue),
            TemperatureClamp = (float)D("temperature_clamp", c.TemperatureClamp),
            VideoAddTypeEmbed = root["video_add_type_embed"]?.GetValue<bool>() ?? c.VideoAddTypeEmbed,
            MoeLayerIndices = root["moe_layers"] is JsonArray a ? a.Select(n => n!.GetValue<int>()).ToArray() : null,
            MoeAttention = type is null || type.Split(',').Contains("SA"),
            MoeFfn = type is null || type.Split(',').Contains("FFN"),
        };
        return c.Validate();
    }

    /// <summary>The inverse of <see cref="FromJsonFile"/>: this config in the golden fixture's key layout (the keys
    /// FromJsonFile reads, plus <paramref name="set"/> naming where it comes from).</summary>
    public string ToFixtureJson(string set)
    {
        var c = this;
        var types = new List<string>();
        if (c.MoeFfn) types.Add("FFN");
        if (c.MoeAttention) types.Add("SA");
        var root = new JsonObject
        {
            ["set"] = set,
            ["layers"] = c.Layers,
            ["hidden"] = c.Hidden,
            ["heads"] = c.Heads,
            ["head_dim"] = c.HeadDim,
            ["ffn"] = c.Ffn,
            ["experts"] = c.Experts,
            ["top_k"] = c.TopK,
            ["moe_layers"] = new JsonArray(c.MoeLayers.Select(l => (JsonNode)l).ToArray()),
            ["moe_expert_type"] = string.Join(",", types),
            ["moe_type"] = "attribute",
            ["attribute_length"] = c.AttributeLength,
            ["vocab_size"] = c.VocabSize,
            ["image_size"] = c.ImageSize,
            ["patch"] = c.Patch,
            ["max_frames"] = c.MaxFrames,
            ["text_position_max_len"] = c.TextPositions,
            ["token_type_vocab"] = c.TokenTypes,
            ["posembed_scale"] = 1.0,
            ["posembed_fixed_sincos"] = true,
            ["layer_norm_eps"] = c.LayerNormEps,
            ["attention_mask_value"] = c.MaskValue,
            ["temperature_clamp"] = c.TemperatureClamp,
            ["video_add_type_embed"] = c.VideoAddTypeEmbed,
        };
        return root.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true });
    }

    public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions { WriteIndented = true });
}
