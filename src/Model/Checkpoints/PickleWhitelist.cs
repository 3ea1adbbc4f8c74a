// The globals a state-dict pickle may name, and what "calling" each one means as plain data (nothing is executed).
using System.Numerics;
using System.Text;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Checkpoints;

internal static class PickleWhitelist
{
    private enum Kind { OrderedDict, RebuildTensorV2, RebuildTensor, RebuildParameter, RebuildParameterWithState, Size, CodecsEncode, Set, FrozenSet, Storage }

    // Protocol 2 pickles written by Python 3 spell builtins as __builtin__ (fix_imports); accept both spellings.
    private static readonly Dictionary<string, Kind> Globals = new(StringComparer.Ordinal)
    {
        ["collections.OrderedDict"] = Kind.OrderedDict,
        ["torch._utils._rebuild_tensor_v2"] = Kind.RebuildTensorV2,
        ["torch._utils._rebuild_tensor"] = Kind.RebuildTensor,
        ["torch._utils._rebuild_parameter"] = Kind.RebuildParameter,
        ["torch._utils._rebuild_parameter_with_state"] = Kind.RebuildParameterWithState,
        ["torch.Size"] = Kind.Size,
        ["_codecs.encode"] = Kind.CodecsEncode,
        ["builtins.set"] = Kind.Set,
        ["__builtin__.set"] = Kind.Set,
        ["builtins.frozenset"] = Kind.FrozenSet,
        ["__builtin__.frozenset"] = Kind.FrozenSet,
    };

    // Legacy typed storage classes (what torch 1.x and 2.x write in persistent ids) and the untyped storage (bytes).
    private static readonly Dictionary<string, ScalarType> StorageTypes = new(StringComparer.Ordinal)
    {
        ["torch.FloatStorage"] = ScalarType.Float32,
        ["torch.HalfStorage"] = ScalarType.Float16,
        ["torch.BFloat16Storage"] = ScalarType.BFloat16,
        ["torch.DoubleStorage"] = ScalarType.Float64,
        ["torch.LongStorage"] = ScalarType.Int64,
        ["torch.IntStorage"] = ScalarType.Int32,
        ["torch.ShortStorage"] = ScalarType.Int16,
        ["torch.CharStorage"] = ScalarType.Int8,
        ["torch.ByteStorage"] = ScalarType.Byte,
        ["torch.BoolStorage"] = ScalarType.Bool,
        ["torch.UntypedStorage"] = ScalarType.Byte,
        ["torch.storage.UntypedStorage"] = ScalarType.Byte,
    };

    /// <summary>Accepts a global or throws naming it; the returned value is inert data.</summary>
    public static PickleGlobal Admit(string module, string name, string source)
    {
        var full = $"{module}.{name}";
        if (!Globals.ContainsKey(full) && !StorageTypes.ContainsKey(full))
            throw new CheckpointException($"{source}: refusing pickle global '{full}' (only state-dict globals are allowed).");
        return new PickleGlobal(module, name);
    }

    public static ScalarType StorageDtype(object? storageType, string source) =>
        storageType is PickleGlobal g && StorageTypes.TryGetValue(g.FullName, out var t)
            ? t
            : throw new CheckpointException($"{source}: persistent id names {Describe(storageType)}, not a torch storage type.");

    /// <summary>REDUCE / NEWOBJ: the plain-data result of "calling" <paramref name="callable"/> with <paramref name="args"/>.</summary>
    public static object? Apply(object? callable, object? args, string source)
    {
        if (callable is not PickleGlobal g || !Globals.TryGetValue(g.FullName, out var kind))
            throw new CheckpointException($"{source}: pickle tries to call {Describe(callable)}, which is not a callable state-dict global.");
        if (args is not object?[] a)
            throw new CheckpointException($"{source}: arguments of '{g.FullName}' are {Describe(args)}, not a tuple.");
        switch (kind)
        {
            case Kind.OrderedDict:
                var dict = new PickleDict();
                if (a.Length == 1 && a[0] is List<object?> pairs)
                    foreach (var p in pairs)
                        if (p is object?[] { Length: 2 } kv) dict.Set(kv[0], kv[1]);
                        else throw Bad(g, source);
                else if (a.Length != 0) throw Bad(g, source);
                return dict;
            case Kind.RebuildTensorV2 when a.Length is >= 6 and <= 7:
            case Kind.RebuildTensor when a.Length == 4:
                return Tensor(a, g, source);
            case Kind.RebuildParameter when a.Length == 3 && a[0] is TensorRef:
            case Kind.RebuildParameterWithState when a.Length == 4 && a[0] is TensorRef:
                return a[0];
            case Kind.Size when a.Length == 1 && a[0] is object?[] dims:
                return dims;
            case Kind.CodecsEncode when a.Length == 2 && a[0] is string s && a[1] is string enc:
                return enc is "latin1" or "latin-1" or "iso-8859-1" ? Encoding.Latin1.GetBytes(s)
                    : enc is "utf-8" or "utf8" ? Encoding.UTF8.GetBytes(s) : throw Bad(g, source);
            case Kind.Set or Kind.FrozenSet when a.Length == 0:
                return new PickleSet(new List<object?>());
            case Kind.Set or Kind.FrozenSet when a.Length == 1 && a[0] is List<object?> items:
                return new PickleSet(new List<object?>(items));
            default:
                throw Bad(g, source);
        }
    }

    private static TensorRef Tensor(object?[] a, PickleGlobal g, string source)
    {
        if (a[0] is not StorageRef storage || a[1] is not long offset || a[2] is not object?[] size || a[3] is not object?[] stride
            || size.Length != stride.Length)
            throw Bad(g, source);
        return new TensorRef(storage, offset, Longs(size, g, source), Longs(stride, g, source));
    }

    private static long[] Longs(object?[] values, PickleGlobal g, string source) =>
        values.Select(v => v is long l ? l : throw Bad(g, source)).ToArray();

    private static CheckpointException Bad(PickleGlobal g, string source) =>
        new($"{source}: unexpected arguments for pickle global '{g.FullName}'.");

    internal static string Describe(object? v) => v switch
    {
        null => "None",
        PickleGlobal g => $"global '{g.FullName}'",
        object?[] t => $"a {t.Length}-tuple",
        BigInteger => "a big int",
        _ => $"a {v.GetType().Name}",
    };
}
