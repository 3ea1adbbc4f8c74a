namespace UniPerceiverMoe.Model.Inference;

/// <summary>Turns a model-config setting (tiny | base | large | path | auto) into a config for a checkpoint.</summary>
public static class ModelConfigResolver
{
    /// <summary>
    /// auto: a config.json beside the checkpoint (the golden-fixture layout) when present, else MoE-B.
    /// A path: that config.json. A name: the built-in shape.
    /// </summary>
    public static UniPerceiverConfig Resolve(string setting, string checkpointPath)
    {
        if (string.IsNullOrWhiteSpace(setting) || setting == "auto")
        {
            var sidecar = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(checkpointPath)) ?? ".", "config.json");
            return File.Exists(sidecar) ? UniPerceiverConfig.FromJsonFile(sidecar) : UniPerceiverConfig.Base;
        }
        if (setting.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || File.Exists(setting))
        {
            if (!File.Exists(setting)) throw new FileNotFoundException($"{setting}: model config not found.", setting);
            return UniPerceiverConfig.FromJsonFile(setting);
        }
        return UniPerceiverConfig.Named(setting);
    }
}
