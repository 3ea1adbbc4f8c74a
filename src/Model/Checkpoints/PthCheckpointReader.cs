// Reads torch.save's zip format (torch >= 1.6): <archive>/data.pkl (the pickle), <archive>/data/<key> (raw storages),
// <archive>/version and, from torch 2.1, <archive>/byteorder. Tensors are rebuilt as torch does: strided views into storages.
using System.IO.Compression;
using TorchSharp;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Checkpoints;

public sealed class PthCheckpointReader : IDisposable
{
    /// <summary>data.pkl holds structure only (names, shapes); anything this large is not a checkpoint's pickle.</summary>
    private const long MaxPickleBytes = 1L << 30;

    private readonly FileStream _file;
    private readonly ZipArchive _zip;
    private readonly string _prefix;

    private PthCheckpointReader(string path, FileStream file, ZipArchive zip, string prefix, object? root)
    {
        (Path, _file, _zip, _prefix, Root) = (path, file, zip, prefix, root);
    }

    public string Path { get; }

    /// <summary>The unpickled object graph (see PickleValues.cs); tensors in it are <see cref="TensorRef"/>s, not yet read.</summary>
    public object? Root { get; }

    /// <summary>Opens <paramref name="path"/> and unpickles its data.pkl; storages are read later by <see cref="ReadTensors"/>.</summary>
    /// <exception cref="CheckpointException">Not a zip, truncated or corrupt, not a torch.save archive, or a refused pickle.</exception>
    public static PthCheckpointReader Open(string path)
    {
        if (!File.Exists(path)) throw new CheckpointException($"{path}: file not found.");
        var file = File.OpenRead(path);
        ZipArchive? zip = null;
        try
        {
            zip = new ZipArchive(file, ZipArchiveMode.Read, leaveOpen: true);
            var pkl = zip.Entries.Where(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) && e.FullName.Count(c => c == '/') == 1).ToList();
            if (pkl.Count != 1)
                throw new CheckpointException($"{path}: zip has {pkl.Count} '<archive>/data.pkl' entries, expected one (not a torch.save checkpoint).");
            var prefix = pkl[0].FullName[..^"data.pkl".Length];
            CheckByteOrder(zip, prefix, path);
            if (pkl[0].Length > MaxPickleBytes) throw new CheckpointException($"{path}: data.pkl is {pkl[0].Length} bytes, too large for a state dict.");
            var bytes = new byte[pkl[0].Length];
            using (var s = pkl[0].Open()) s.ReadExactly(bytes);
            var root = RestrictedUnpickler.Unpickle(bytes, path);
            return new PthCheckpointReader(path, file, zip, prefix, root);
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            zip?.Dispose();
            file.Dispose();
            throw new CheckpointException($"{path}: truncated or corrupt zip archive ({e.Message}).", e);
        }
        catch
        {
            zip?.Dispose();
            file.Dispose();
            throw;
        }
    }

    /// <summary>Reads every tensor of <paramref name="dict"/> (string keys, tensor values) into CPU memory in its stored dtype.
    /// Each storage is read once; tensors that cover a whole contiguous storage are views of it (keys that shared a
    /// storage in the file share it here, as after torch.load); other tensors are compact copies. The caller owns the result.</summary>
    public Dictionary<string, Tensor> ReadTensors(PickleDict dict, IProgress<double>? progress = null, Func<string, bool>? include = null)
    {
        var refs = new List<(string Key, TensorRef Ref)>();
        foreach (var (k, v) in dict.Items)
        {
            if (k is not string key) throw new CheckpointException($"{Path}: state dict has a non-string key ({PickleWhitelist.Describe(k)}).");
            if (v is not TensorRef r) throw new CheckpointException($"{Path}: entry '{key}' is {PickleWhitelist.Describe(v)}, not a tensor.");
            if (include is null || include(key)) refs.Add((key, r));   // storages of excluded tensors are never read
        }
        var storageRefs = new Dictionary<string, StorageRef>(StringComparer.Ordinal);
        foreach (var (key, r) in refs)
            if (storageRefs.TryGetValue(r.Storage.Key, out var seen) && seen != r.Storage)
                throw new CheckpointException($"{Path}: storage '{r.Storage.Key}' is described two ways (tensor '{key}').");
            else storageRefs[r.Storage.Key] = r.Storage;

        long totalBytes = Math.Max(1, storageRefs.Values.Sum(s => s.Numel * SafeTensors.ElementSize(s.Dtype))), readBytes = 0;
        var storages = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            progress?.Report(0);
            foreach (var s in storageRefs.Values)
            {
                storages[s.Key] = ReadStorage(s);
                readBytes += s.Numel * SafeTensors.ElementSize(s.Dtype);
                progress?.Report((double)readBytes / totalBytes);
            }
            foreach (var (key, r) in refs) result[key] = View(storages[r.Storage.Key], r, key);
            progress?.Report(1);
            return result;
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        finally
        {
            // Views keep their storage alive inside libtorch; these handles are only ours.
            foreach (var t in storages.Values) t.Dispose();
        }
    }

    private Tensor ReadStorage(StorageRef s)
    {
        var name = $"{_prefix}data/{s.Key}";
        var entry = _zip.GetEntry(name) ?? throw new CheckpointException($"{Path}: storage entry '{name}' is missing.");
        long bytes = s.Numel * SafeTensors.ElementSize(s.Dtype);
        if (entry.Length < bytes)
            throw new CheckpointException($"{Path}: storage entry '{name}' has {entry.Length} bytes, {s.Numel} x {s.Dtype} need {bytes}.");
        var t = empty(new[] { s.Numel }, s.Dtype);
        try
        {
            using var stream = entry.Open();
            TensorBytes.Fill(t, stream);
            return t;
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            t.Dispose();
            throw new CheckpointException($"{Path}: storage entry '{name}' is truncated or corrupt ({e.Message}).", e);
        }
    }

    private Tensor View(Tensor storage, TensorRef r, string key)
    {
        if (r.Offset < 0 || r.Size.Any(d => d < 0) || r.Stride.Any(d => d < 0))
            throw new CheckpointException($"{Path}: tensor '{key}' has a negative offset, size or stride.");
        long extent = r.Numel == 0 ? 0 : r.Offset + 1 + r.Size.Zip(r.Stride, (n, st) => (n - 1) * st).Sum();
        if (extent > r.Storage.Numel)
            throw new CheckpointException($"{Path}: tensor '{key}' [{string.Join(", ", r.Size)}] (offset {r.Offset}, stride [{string.Join(", ", r.Stride)}]) runs past its storage of {r.Storage.Numel} elements.");
        var view = storage.as_strided(r.Size, r.Stride, r.Offset);
        bool whole = r.Offset == 0 && r.Numel == r.Storage.Numel;
        if (whole && view.is_contiguous()) return view;
        using (view) return view.is_contiguous() ? view.clone() : view.contiguous();
    }

    private static void CheckByteOrder(ZipArchive zip, string prefix, string path)
    {
        var entry = zip.GetEntry(prefix + "byteorder");
        if (entry is null) return; // written from torch 2.1 on; older files are little-endian
        using var reader = new StreamReader(entry.Open());
        var order = reader.ReadToEnd().Trim();
        if (order != "little")
            throw new CheckpointException($"{path}: storages are '{order}'-endian; only little-endian checkpoints are supported.");
    }

    public void Dispose()
    {
        _zip.Dispose();
        _file.Dispose();
    }
}
