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
    /// (CPU when null), in eval mode with gradients off. Missing/unexpected keys and wrong shapes fail listing the keys.
    /// </summary>
    public static UniPerceiverMoeModel Load(string checkpointPath, UniPerceiverConfig config, Device? device = null)
    {
        var model = new UniPerceiverMoeModel(config);
        try
        {
            using (var stateDict = ReadStateDict(checkpointPath))
            {
                var expected = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape);
                Validate(expected, stateDict, checkpointPath);
                using var _ = no_grad();
                var own = model.state_dict();
                foreach (var (key, value) in stateDict) own[key].copy_(value);
            }
            if (device is not null) model.to(device);
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

    private static StateDictFile ReadStateDict(string path) => new(SafeTensors.Load(path));

    private static void Validate(Dictionary<string, long[]> expected, StateDictFile actual, string path)
    {
        var missing = expected.Keys.Where(k => !actual.ContainsKey(k)).Order().ToList();
        var unexpected = actual.Keys.Where(k => !expected.ContainsKey(k)).Order().ToList();
        var wrong = expected.Where(kv => actual.TryGetValue(kv.Key, out var t) && !t.shape.SequenceEqual(kv.Value))
            .Select(kv => $"{kv.Key} (checkpoint [{string.Join(", ", actual[kv.Key].shape)}], model [{string.Join(", ", kv.Value)}])")
            .Order().ToList();
        if (missing.Count + unexpected.Count + wrong.Count == 0) return;
        static string List(string what, List<string> keys) =>
            keys.Count == 0 ? "" : $" {what} ({keys.Count}): {string.Join(", ", keys.Take(20))}{(keys.Count > 20 ? $", and {keys.Count - 20} more" : "")}.";
        throw new InvalidDataException($"{path}: checkpoint does not fit the model config." +
            List("missing keys", missing) + List("unexpected keys", unexpected) + List("wrong shapes", wrong));
    }

    private sealed class StateDictFile(Dictionary<string, Tensor> tensors) : Dictionary<string, Tensor>(tensors, StringComparer.Ordinal), IDisposable
    {
        public void Dispose()
        {
            foreach (var t in Values) t.Dispose();
        }
    }
}
