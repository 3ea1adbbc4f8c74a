// Plain-data values built by RestrictedUnpickler: Python objects are mapped onto these, never onto executable types.
// Mapping: None -> null, bool -> bool, int -> long (or BigInteger), float -> double, str -> string, bytes -> byte[],
// tuple -> object?[], list -> List<object?>, dict/OrderedDict -> PickleDict, set/frozenset -> PickleSet.
using TorchSharp;

namespace UniPerceiverMoe.Model.Checkpoints;

/// <summary>A global (<c>module.name</c>) that passed the whitelist; only ever compared, never resolved to code.</summary>
public sealed record PickleGlobal(string Module, string Name)
{
    public string FullName => $"{Module}.{Name}";
}

/// <summary>An insertion-ordered Python dict. <see cref="State"/> holds what a BUILD opcode set on it
/// (torch stores the state dict's <c>_metadata</c> there).</summary>
public sealed class PickleDict
{
    /// <summary>Stands in for a Python <c>None</c> key.</summary>
    public static readonly object NoneKey = new();

    private readonly Dictionary<object, object?> _map = new();
    private readonly List<object> _order = new();

    public object? State { get; set; }

    public int Count => _order.Count;

    public IEnumerable<KeyValuePair<object, object?>> Items => _order.Select(k => new KeyValuePair<object, object?>(k, _map[k]));

    public void Set(object? key, object? value)
    {
        var k = key ?? NoneKey;
        if (!_map.ContainsKey(k)) _order.Add(k);
        _map[k] = value;
    }

    public bool TryGet(string key, out object? value) => _map.TryGetValue(key, out value);
}

/// <summary>A Python set or frozenset, kept as a list (order is not meaningful).</summary>
public sealed record PickleSet(List<object?> Items);

/// <summary>A storage named by a persistent id <c>('storage', storage_type, key, location, numel)</c>:
/// its bytes are the zip entry <c>&lt;archive&gt;/data/&lt;Key&gt;</c>, <see cref="Numel"/> elements of <see cref="Dtype"/>.</summary>
public sealed record StorageRef(string Key, torch.ScalarType Dtype, string Location, long Numel);

/// <summary>A tensor as torch rebuilds it: a strided view (<see cref="Offset"/>, <see cref="Size"/>, <see cref="Stride"/>,
/// all in elements) into <see cref="Storage"/>. Several tensors may name the same storage.</summary>
public sealed record TensorRef(StorageRef Storage, long Offset, long[] Size, long[] Stride)
{
    public long Numel => Size.Aggregate(1L, (a, b) => a * b);
}
