// Test helper: writes checkpoints in torch.save's zip layout (protocol-2 data.pkl as torch 1.13 writes it, stored storages),
// so the reader can be tested on shapes the golden file lacks: fp16, strides, shared storages, wrappers, bad globals.
using System.IO.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Checkpoints;

internal static class TorchZipWriter
{
    /// <summary>A tensor entry: a view (offset, size, stride in elements) into storage <see cref="StorageKey"/>.</summary>
    public sealed record Entry(string Key, string StorageKey, long Offset, long[] Size, long[] Stride);

    /// <summary>A storage: its torch class name (e.g. "HalfStorage"), element count and raw little-endian bytes.</summary>
    public sealed record Storage(string TypeName, long Numel, byte[] Bytes);

    /// <summary>Writes every tensor contiguous in its own storage, under <paramref name="wrapper"/> (e.g. "model") or bare.</summary>
    public static void WriteStateDict(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, string? wrapper)
    {
        var entries = new List<Entry>();
        var storages = new Dictionary<string, Storage>();
        foreach (var (key, t) in tensors)
        {
            var id = storages.Count.ToString();
            using var c = t.contiguous();
            storages[id] = new Storage(TypeName(t.dtype), t.numel(), c.bytes.ToArray());
            entries.Add(new Entry(key, id, 0, t.shape, ContiguousStrides(t.shape)));
        }
        Write(path, entries, storages, wrapper);
    }

    public static void Write(string path, IReadOnlyList<Entry> entries, IReadOnlyDictionary<string, Storage> storages, string? wrapper,
        string archive = "archive")
    {
        using var fs = File.Create(path);
        using var zip = new ZipArchive(fs, ZipArchiveMode.Create);
        Add(zip, $"{archive}/data.pkl", Pickle(entries, storages, wrapper));
        foreach (var (key, s) in storages) Add(zip, $"{archive}/data/{key}", s.Bytes);
        Add(zip, $"{archive}/version", "3\n"u8.ToArray());
    }

    /// <summary>Copies the zip at <paramref name="source"/> to <paramref name="target"/>, passing data.pkl through <paramref name="edit"/>.</summary>
    public static void RewritePickle(string source, string target, Func<byte[], byte[]> edit)
    {
        using var input = ZipFile.OpenRead(source);
        using var fs = File.Create(target);
        using var output = new ZipArchive(fs, ZipArchiveMode.Create);
        foreach (var e in input.Entries)
        {
            using var s = e.Open();
            using var ms = new MemoryStream();
            s.CopyTo(ms);
            var bytes = e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) ? edit(ms.ToArray()) : ms.ToArray();
            Add(output, e.FullName, bytes);
        }
    }

    public static long[] ContiguousStrides(long[] shape)
    {
        var strides = new long[shape.Length];
        long s = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = s;
            s *= shape[i];
        }
        return strides;
    }

    private static byte[] Pickle(IReadOnlyList<Entry> entries, IReadOnlyDictionary<string, Storage> storages, string? wrapper)
    {
        var p = new PickleBuilder().Proto(2);
        if (wrapper is not null) p.EmptyDict().Str(wrapper);
        p.Global("collections", "OrderedDict").EmptyTuple().Reduce().Mark();
        foreach (var e in entries)
        {
            var s = storages[e.StorageKey];
            p.Str(e.Key).Global("torch._utils", "_rebuild_tensor_v2").Mark()
                .Mark().Str("storage").Global("torch", s.TypeName).Str(e.StorageKey).Str("cpu").Int(s.Numel).Tuple()
                .Op((byte)'Q')                                   // BINPERSID
                .Int(e.Offset).Ints(e.Size).Ints(e.Stride)
                .Op(0x89)                                        // NEWFALSE: requires_grad
                .Global("collections", "OrderedDict").EmptyTuple().Reduce()  // backward hooks
                .Tuple().Reduce();
        }
        p.Op((byte)'u');                                          // SETITEMS
        if (wrapper is not null) p.Op((byte)'s');                 // SETITEM
        return p.Stop().ToArray();
    }

    private static string TypeName(ScalarType t) => t switch
    {
        ScalarType.Float32 => "FloatStorage",
        ScalarType.Float16 => "HalfStorage",
        ScalarType.BFloat16 => "BFloat16Storage",
        ScalarType.Float64 => "DoubleStorage",
        ScalarType.Int64 => "LongStorage",
        ScalarType.Int32 => "IntStorage",
        ScalarType.Byte => "ByteStorage",
        ScalarType.Bool => "BoolStorage",
        _ => throw new NotSupportedException(t.ToString()),
    };

    private static void Add(ZipArchive zip, string name, byte[] bytes)
    {
        using var s = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
        s.Write(bytes);
    }
}
