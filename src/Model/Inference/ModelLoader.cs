using TorchSharp;
using UniPerceiverMoe.Model.Checkpoints;
using UniPerceiverMoe.Model.Modules;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Inference;

/// <summary>Builds a <see cref="UniPerceiverMoeModel"/> for a config and fills it strictly from a checkpoint file.</summary>
public static class ModelLoader
{
    /// <summary>
    /// Loads <paramref name="checkpointPath"/> (.pth or .safetensors) into a new model on <paramref name="device"/>
    /// (CPU when null), in eval mode with gradients off. Missing/unexpected keys and wrong shapes fail with a <see cref="CheckpointException"/> listing the keys.
    /// </summary>
    /// With <paramref name="denseOnly"/> the MoE experts are neither read nor held (<see cref="FusedExperts.Release"/>):
    /// the model of a cluster frontend, whose experts live on expert nodes.
    public static UniPerceiverMoeModel Load(string checkpointPath, UniPerceiverConfig config, Device? device = null,
        IProgress<double>? progress = null, bool denseOnly = false)
    {
        // A dense-only model on the CPU is built with its experts as shapes from the start (never allocated: a frontend's
        // peak memory is its dense part). Another device needs real tensors to move, so there they are released after.
        bool cpu = device is null || device.type == DeviceType.CPU;
        UniPerceiverMoeModel model;
        using (denseOnly && cpu ? FusedExperts.ShapesOnly() : null)
            model = new UniPerceiverMoeModel(config);
        try
        {
            using (var stateDict = CheckpointLoader.Load(checkpointPath, progress: progress, include: denseOnly ? key => !IsExpertKey(key) : null))
            {
                var expected = model.state_dict().Where(kv => !denseOnly || !IsExpertKey(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value.shape);
                StateDictValidator.Validate(expected, stateDict, checkpointPath);
                using var _ = no_grad();
                var own = model.state_dict();
                foreach (var (key, value) in stateDict) own[key].copy_(value);
            }
            if (!cpu) model.to(device!);   // built on the CPU: nothing to move there (and meta experts cannot be moved)
            // After the move: a meta tensor cannot be copied to a device. Until here the experts held their random
            // initial values (never read from the file).
            if (denseOnly)
                foreach (var moe in model.modules().OfType<FusedExperts>()) moe.Release();
            model.eval();
            foreach (var p in model.parameters()) p.requires_grad = false;
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Whether <paramref name="key"/> names an expert's weight or bias (<c>….experts.deepspeed_experts.{e}.…</c>).</summary>
    public static bool IsExpertKey(string key) => key.Contains(".experts.deepspeed_experts.", StringComparison.Ordinal);

    /// <summary>
    /// A model with the library's default random initialisation (seeded), for benchmarks and tests of shapes that
    /// have no checkpoint here (e.g. MoE-B). Eval mode, gradients off.
    /// </summary>
    public static UniPerceiverMoeModel Random(UniPerceiverConfig config, long seed = 0, Device? device = null)
    {
        manual_seed(seed);
        var model = new UniPerceiverMoeModel(config);
        if (device is not null) model.to(device);
        model.eval();
        foreach (var p in model.parameters()) p.requires_grad = false;
        return model;
    }
}
