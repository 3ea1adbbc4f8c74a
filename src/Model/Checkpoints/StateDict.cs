// A loaded state dict: parameter name -> tensor, plus how it was loaded. Owns its tensors until disposed or taken.
using System.Collections;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Checkpoints;

/// <summary>How a checkpoint was read and normalised.</summary>
/// <param name="Format">"pth" (torch.save zip) or "safetensors".</param>
/// <param name="Wrapper">The top-level key the state dict sat under ("model", "module") or "" for a bare state dict.</param>
/// <param name="DeepSpeedRenamed">True when DeepSpeed-era names were mapped to the current ones (reference §5.1).</param>
/// <param name="StrippedModulePrefix">True when every key began with "module." (DataParallel) and it was removed.</param>
/// <param name="DroppedKeys">Keys the reference converter drops (DeepSpeed <c>visual_embed.*</c>).</param>
/// <param name="SourceDtypes">Tensor count per dtype as stored in the file.</param>
/// <param name="ConvertedToFloat32">How many fp16/bf16/fp64 tensors were converted to fp32.</param>
public sealed record CheckpointReport(
    string Path,
    string Format,
    string Wrapper,
    bool DeepSpeedRenamed,
    bool StrippedModulePrefix,
    IReadOnlyList<string> DroppedKeys,
    IReadOnlyDictionary<ScalarType, int> SourceDtypes,
    int ConvertedToFloat32);

public sealed class StateDict : IReadOnlyDictionary<string, Tensor>, IDisposable
{
    private readonly Dictionary<string, Tensor> _tensors;

    /// <summary>Takes ownership of <paramref name="tensors"/>: they are disposed with this object unless taken.</summary>
    public StateDict(Dictionary<string, Tensor> tensors, CheckpointReport report)
    {
        _tensors = tensors;
        Report = report;
    }

    public CheckpointReport Report { get; }

    public string Path => Report.Path;

    /// <summary>Total number of elements over all tensors.</summary>
    public long ValueCount => _tensors.Values.Sum(t => t.numel());

    /// <summary>Shapes by key, e.g. for <see cref="StateDictValidator"/> or an approval test.</summary>
    public IReadOnlyDictionary<string, long[]> Shapes() => _tensors.ToDictionary(kv => kv.Key, kv => kv.Value.shape, StringComparer.Ordinal);

    /// <summary>Removes <paramref name="key"/> and hands its tensor to the caller, who then owns it.</summary>
    public Tensor Take(string key)
    {
        if (!_tensors.Remove(key, out var t)) throw new KeyNotFoundException($"{Path}: no tensor '{key}' in the state dict.");
        return t;
    }

    public Tensor this[string key] => _tensors.TryGetValue(key, out var t) ? t : throw new KeyNotFoundException($"{Path}: no tensor '{key}' in the state dict.");
    public IEnumerable<string> Keys => _tensors.Keys;
    public IEnumerable<Tensor> Values => _tensors.Values;
    public int Count => _tensors.Count;
    public bool ContainsKey(string key) => _tensors.ContainsKey(key);
    public bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out Tensor value) => _tensors.TryGetValue(key, out value);
    public IEnumerator<KeyValuePair<string, Tensor>> GetEnumerator() => _tensors.GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public void Dispose()
    {
        foreach (var t in _tensors.Values) t.Dispose();
        _tensors.Clear();
    }
}
