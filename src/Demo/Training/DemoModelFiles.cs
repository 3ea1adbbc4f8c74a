using UniPerceiverMoe.Model.Checkpoints;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Modules;
using static TorchSharp.torch;

using UniPerceiverMoe.Model;

namespace UniPerceiverMoe.Demo.Training;

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

    /// <summary>Where <c>upmoe demo</c> keeps its model under the cache directory. The suffix names the default
    /// training recipe: bump it when <see cref="DemoTrainingOptions"/>' defaults change, so that a model trained by an
    /// older recipe is retrained once instead of being shown.</summary>
    public const string CacheDirectoryName = "demo-model-r2";

    /// <param name="storage">Float32 (training's own precision) or Float16: half the file, read back as float32 by
    /// <see cref="ModelLoader.Load"/> (the shipped demo model; its accuracy is checked by ShippedDemoModelSpecs).</param>
    public static void Save(string directory, UniPerceiverMoeModel model, DemoManifest manifest, ScalarType storage = ScalarType.Float32)
    {
        if (storage is not (ScalarType.Float32 or ScalarType.Float16))
            throw new ArgumentException($"demo model weights are stored as float32 or float16, not {storage}.", nameof(storage));
        Directory.CreateDirectory(directory);
        using (no_grad())
        {
            var state = model.state_dict();
            // SHARE_LAYERNORM: video_embed.embeddings_norm is the text LayerNorm in the reference; keep the copy equal.
            state["video_embed.embeddings_norm.weight"].copy_(state["token_embed.embeddings_norm.weight"]);
            state["video_embed.embeddings_norm.bias"].copy_(state["token_embed.embeddings_norm.bias"]);
            var stored = state.ToDictionary(kv => kv.Key, kv => kv.Value.dtype == storage ? kv.Value : kv.Value.to_type(storage));
            try
            {
                SafeTensors.Save(Path.Combine(directory, ModelFile), stored,
                    new Dictionary<string, string> { ["format"] = "pt", ["producer"] = "upmoe train-demo" });
            }
            finally
            {
                foreach (var (key, t) in stored)
                    if (!ReferenceEquals(t, state[key])) t.Dispose();
            }
        }
        File.WriteAllText(Path.Combine(directory, ConfigFile), model.Config.ToFixtureJson(set: "demo"));
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
}
