// Reads and writes the safetensors format: 8-byte little-endian header length, a JSON header
// ({name: {dtype, shape, data_offsets:[begin,end)}}, optional "__metadata__"), then raw little-endian data.
using System.IO.MemoryMappedFiles;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Checkpoints;

public static class SafeTensors
{
    /// <summary>Largest header we accept; real headers are kilobytes, a huge value means a corrupt or hostile file.</summary>
    private const long MaxHeaderBytes = 100L * 1024 * 1024;

    /// <summary>Loads every tensor of <paramref name="path"/> onto <paramref name="device"/> (CPU when null), reporting the
    /// fraction of tensors read to <paramref name="progress"/>. The file is memory-mapped, so files over 2 GiB load and
    /// the data is copied once (file -> tensor). With <paramref name="include"/>, only the tensors whose names it accepts
    /// are read (the rest of the file is never touched). The caller owns the returned tensors.</summary>
    public static unsafe Dictionary<string, Tensor> Load(string path, Device? device = null, IProgress<double>? progress = null,
        Func<string, bool>? include = null) =>
        Mapped(path, (file, length) => LoadMapped(file, length, path, device, progress, include));

    private unsafe delegate T MappedReader<T>(byte* file, long length);

    /// <summary>Runs <paramref name="read"/> on a read-only memory map of the whole file (files over 2 GiB included).</summary>
    private static unsafe T Mapped<T>(string path, MappedReader<T> read)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found.", path);
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        long length = fs.Length;
        if (length < 8) throw new InvalidDataException($"{path}: not a safetensors file (only {length} bytes).");
        using var map = MemoryMappedFile.CreateFromFile(fs, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
        using var view = map.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        try
        {
            return read(p + view.PointerOffset, length);
        }
        finally
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
    }

    private static unsafe Dictionary<string, Tensor> LoadMapped(byte* file, long length, string path, Device? device, IProgress<double>? progress,
        Func<string, bool>? include)
    {
        var (header, dataStart) = ParseHeader(file, length, path);
        var names = header.Where(kv => kv.Key != "__metadata__" && kv.Value is not null && (include is null || include(kv.Key))).ToList();
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            progress?.Report(0);
            foreach (var (name, node) in names)
            {
                result[name] = ReadTensor(file, length, dataStart, name, node!, path, device);
                progress?.Report((double)result.Count / names.Count);
            }
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        progress?.Report(1);
        return result;
    }

    /// <summary>Names, dtypes and shapes of the tensors in <paramref name="path"/>, without reading the data.</summary>
    public static unsafe IReadOnlyDictionary<string, (string Dtype, long[] Shape)> ReadIndex(string path) =>
        Mapped(path, (file, length) =>
        {
            var (header, _) = ParseHeader(file, length, path);
            var index = new Dictionary<string, (string, long[])>(StringComparer.Ordinal);
            foreach (var (name, node) in header)
            {
                if (name == "__metadata__" || node is null) continue;
                var (dtype, shape, _) = Describe(node, path, name);
                index[name] = (DtypeName(dtype), shape);
            }
            return (IReadOnlyDictionary<string, (string, long[])>)index;
        });

    /// <summary>Writes <paramref name="tensors"/> (any device, contiguous or not) as a safetensors file, names sorted.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata) meta[k] = v;
            header["__metadata__"] = meta;
        }
        var blobs = new List<byte[]>();
        long offset = 0;
        foreach (var name in tensors.Keys.OrderBy(k => k, StringComparer.Ordinal))
        {
            var t = tensors[name];
            using var detached = t.detach();        // each intermediate held: no finalizer may free it mid-call
            using var onCpu = detached.cpu();
            using var cpu = onCpu.contiguous();
            var data = cpu.bytes.ToArray();
            header[name] = new JsonObject
            {
                ["dtype"] = DtypeName(t.dtype),
                ["shape"] = new JsonArray(t.shape.Select(s => (JsonNode)s).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + data.Length),
            };
            blobs.Add(data);
            offset += data.Length;
        }
        var headerBytes = JsonSerializer.SerializeToUtf8Bytes(header);
        // Pad the header with spaces so the data starts 8-byte aligned (as the reference writer does).
        int pad = (8 - headerBytes.Length % 8) % 8;
        var tmp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";   // unique: concurrent writers never share a temp file
        using (var fs = File.Create(tmp))
        {
            fs.Write(BitConverter.GetBytes((long)(headerBytes.Length + pad)));
            fs.Write(headerBytes);
            for (int i = 0; i < pad; i++) fs.WriteByte((byte)' ');
            foreach (var b in blobs) fs.Write(b);
        }
        File.Move(tmp, path, overwrite: true);
    }

    internal static ScalarType ParseDtype(string dtype, string path, string name) => dtype switch
    {
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "F64" => ScalarType.Float64,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "I16" => ScalarType.Int16,
        "I8" => ScalarType.Int8,
        "U8" => ScalarType.Byte,
        "BOOL" => ScalarType.Bool,
        _ => throw new InvalidDataException($"{path}: tensor '{name}' has unsupported dtype '{dtype}'."),
    };

    internal static string DtypeName(ScalarType t) => t switch
    {
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Float64 => "F64",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new NotSupportedException($"safetensors cannot store dtype {t}."),
    };

    private static unsafe (JsonObject Header, long DataStart) ParseHeader(byte* file, long length, string path)
    {
        long len = BitConverter.ToInt64(new ReadOnlySpan<byte>(file, 8));
        if (len <= 0 || len > MaxHeaderBytes || len > length - 8)
            throw new InvalidDataException($"{path}: not a safetensors file (header length {len} for a {length}-byte file).");
        try
        {
            var header = JsonNode.Parse(new ReadOnlySpan<byte>(file + 8, (int)len)) as JsonObject
                ?? throw new InvalidDataException($"{path}: safetensors header is not a JSON object.");
            return (header, 8 + len);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: safetensors header is not valid JSON ({e.Message}).", e);
        }
    }

    private static unsafe Tensor ReadTensor(byte* file, long length, long dataStart, string name, JsonNode node, string path, Device? device)
    {
        var (dtype, shape, offsets) = Describe(node, path, name);
        long begin = dataStart + offsets[0], end = dataStart + offsets[1];
        long count = shape.Aggregate(1L, (a, b) => a * b);
        long expected = count * ElementSize(dtype);
        if (offsets[0] < 0 || end > length || begin > end || end - begin != expected)
            throw new InvalidDataException($"{path}: tensor '{name}' data range [{offsets[0]}, {offsets[1]}) does not fit shape [{string.Join(", ", shape)}] of {dtype} or the file.");
        var t = empty(shape, dtype);
        TensorBytes.Fill(t, file + begin);
        return device is null || device.type == DeviceType.CPU ? t : MoveAndDispose(t, device);
    }

    /// <summary>Reads {dtype, shape, data_offsets} of one header entry; malformed entries are format errors.</summary>
    private static (ScalarType Dtype, long[] Shape, long[] Offsets) Describe(JsonNode node, string path, string name)
    {
        try
        {
            if (node is JsonObject o && o["dtype"] is JsonValue d && o["shape"] is JsonArray shape && o["data_offsets"] is JsonArray { Count: 2 } offsets)
                return (ParseDtype(d.GetValue<string>(), path, name),
                    shape.Select(Integer).ToArray(), offsets.Select(Integer).ToArray());
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: malformed safetensors header entry '{name}' ({e.Message}).", e);
        }
        throw new InvalidDataException($"{path}: malformed safetensors header entry '{name}' (needs dtype, shape and two data_offsets).");

        static long Integer(JsonNode? n) => n is JsonValue v ? v.GetValue<long>() : throw new FormatException("expected an integer");
    }

    private static Tensor MoveAndDispose(Tensor t, Device device)
    {
        var moved = t.to(device);
        t.Dispose();
        return moved;
    }

    internal static int ElementSize(ScalarType t) => t switch
    {
        ScalarType.Float64 or ScalarType.Int64 => 8,
        ScalarType.Float32 or ScalarType.Int32 => 4,
        ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Int16 => 2,
        _ => 1,
    };
}
