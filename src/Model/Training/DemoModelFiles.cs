using System.Text.Json.Nodes;
using UniPerceiverMoe.Model.Checkpoints;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Modules;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Training;

/// <summary>
/// The demo model directory: <c>model.safetensors</c> (the reference's state-dict keys, read strictly by
/// <see cref="ModelLoader.Load"/>), <c>config.json</c> (golden-fixture key layout, read by
/// <see cref="UniPerceiverConfig.FromJsonFile"/> and by ModelConfigResolver's "auto") and <c>demo.json</c>.
/// </summary>
public static class DemoModelFiles
{
    public const string ModelFile = "model.safetensors";
    public const string ConfigFile = "config.json";
    public const string ManifestFile = "demo.json";

    public static void Save(string directory, UniPerceiverMoeModel model, DemoManifest manifest)
    {
        Directory.CreateDirectory(directory);
        using (no_grad())
        {
            var state = model.state_dict();
            // SHARE_LAYERNORM: video_embed.embeddings_norm is the text LayerNorm in the reference; keep the copy equal.
            state["video_embed.embeddings_norm.weight"].copy_(state["token_embed.embeddings_norm.weight"]);
            state["video_embed.embeddings_norm.bias"].copy_(state["token_embed.embeddings_norm.bias"]);
            SafeTensors.Save(Path.Combine(directory, ModelFile), state,
                new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "upmoe train-demo" });
        }
        File.WriteAllText(Path.Combine(directory, ConfigFile), ConfigJson(model.Config));
        File.WriteAllText(Path.Combine(directory, ManifestFile), manifest.ToJson());
    }

    /// <summary>Loads the model (eval mode, gradients off) and its manifest from <paramref name="directory"/>.</summary>
    public static (UniPerceiverMoeModel Model, DemoManifest Manifest) Load(string directory, Device? device = null)
    {
        foreach (var file in new[] { ModelFile, ConfigFile, ManifestFile })
            if (!File.Exists(Path.Combine(directory, file)))
                throw new FileNotFoundException($"{Path.Combine(directory, file)}: missing (train one with 'upmoe train-demo --out {directory}').");
        var manifest = DemoManifest.FromJsonFile(Path.Combine(directory, ManifestFile));
        var config = UniPerceiverConfig.FromJsonFile(Path.Combine(directory, ConfigFile));
        return (ModelLoader.Load(Path.Combine(directory, ModelFile), config, device), manifest);
    }

    /// <summary>The config in the golden fixture's key layout (only the keys FromJsonFile reads, plus "set").</summary>
    public static string ConfigJson(UniPerceiverConfig c)
    {
        var types = new List<string>();
        if (c.MoeFfn) types.Add("FFN");
        if (c.MoeAttention) types.Add("SA");
        var root = new JsonObject
        {
            ["set"] = "demo",
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
}
