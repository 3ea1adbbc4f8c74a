// Loads a Uni-Perceiver(-MoE) checkpoint into a StateDict with the current codebase's key names, as the reference's
// TorchCheckpointer would see it after tools/convertmoe.ipynb: unwrap {'model'|'module': sd}, rename DeepSpeed keys,
// drop visual_embed.*, squeeze residual scales, float tensors to fp32.
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Checkpoints;

public static class CheckpointLoader
{
    private static readonly string[] Wrappers = { "model", "module" };

    /// <summary>Loads <paramref name="path"/> (torch.save zip or safetensors, told apart by content) onto
    /// <paramref name="device"/> (CPU when null). <paramref name="progress"/> receives the fraction (0..1) of data read.
    /// With <paramref name="include"/> (tested on the final, renamed keys), only the accepted tensors are read from the
    /// file: an expert node loads its groups' slices without reading the rest. The returned <see cref="StateDict"/>
    /// owns every tensor.</summary>
    /// <exception cref="CheckpointException">Unreadable, refused or unrecognised file; the message names the file.</exception>
    public static StateDict Load(string path, Device? device = null, IProgress<double>? progress = null, Func<string, bool>? include = null)
    {
        if (!File.Exists(path)) throw new CheckpointException($"{path}: file not found.");
        var (format, wrapper, naming, raw) = ReadRaw(path, progress, include);
        try
        {
            return Normalise(path, format, wrapper, naming, raw, device);
        }
        finally
        {
            foreach (var t in raw.Values) t.Dispose();
        }
    }

    private static (string Format, string Wrapper, KeyNaming Naming, Dictionary<string, Tensor> Raw) ReadRaw(string path, IProgress<double>? progress,
        Func<string, bool>? include)
    {
        var magic = new byte[4];
        int n;
        using (var fs = File.OpenRead(path)) n = fs.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        if (n == 4 && magic[0] == (byte)'P' && magic[1] == (byte)'K' && magic[2] == 3 && magic[3] == 4) return ReadPth(path, progress, include);
        if (n >= 2 && magic[0] == 0x80 && magic[1] <= 5)
            throw new CheckpointException($"{path}: legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with torch >= 1.6.");
        try
        {
            var naming = KeyNaming.Of(SafeTensors.ReadIndex(path).Keys.ToList());
            return ("safetensors", "", naming, SafeTensors.Load(path, null, progress, naming.RawFilter(include)));
        }
        catch (InvalidDataException e)
        {
            throw new CheckpointException($"{path}: not a checkpoint: neither a torch.save zip nor a safetensors file ({e.Message}).", e);
        }
    }

    private static (string, string, KeyNaming, Dictionary<string, Tensor>) ReadPth(string path, IProgress<double>? progress, Func<string, bool>? include)
    {
        using var reader = PthCheckpointReader.Open(path);
        if (reader.Root is not PickleDict root)
            throw new CheckpointException($"{path}: top-level object is {PickleWhitelist.Describe(reader.Root)}, not a dict.");
        var (wrapper, sd) = ("", root);
        foreach (var w in Wrappers)
            if (root.TryGet(w, out var inner))
            {
                (wrapper, sd) = inner is PickleDict dict ? (w, dict)
                    : throw new CheckpointException($"{path}: '{w}' holds {PickleWhitelist.Describe(inner)}, not a state dict.");
                break;
            }
        var naming = KeyNaming.Of(sd.Items.Select(kv => kv.Key as string ?? "").ToList());
        return ("pth", wrapper, naming, reader.ReadTensors(sd, progress, naming.RawFilter(include)));
    }

    /// <summary>How the file's keys map to current names, decided on the whole key list (a filtered subset could look
    /// different): a common "module." prefix is stripped, and DeepSpeed-era names are renamed (null: dropped).</summary>
    private sealed record KeyNaming(bool StripModule, bool DeepSpeed)
    {
        public static KeyNaming Of(IReadOnlyCollection<string> rawKeys)
        {
            bool strip = rawKeys.Count > 0 && rawKeys.All(k => k.StartsWith("module.", StringComparison.Ordinal));
            return new KeyNaming(strip, DeepSpeedKeyMap.IsDeepSpeedNamed(rawKeys.Select(k => strip ? k["module.".Length..] : k).ToList()));
        }

        public string Stripped(string raw) => StripModule ? raw["module.".Length..] : raw;

        public string? FinalName(string raw) => DeepSpeed ? DeepSpeedKeyMap.Rename(Stripped(raw)) : Stripped(raw);

        public Func<string, bool>? RawFilter(Func<string, bool>? include) =>
            include is null ? null : raw => FinalName(raw) is { } name && include(name);
    }

    /// <summary>Builds the final dict from <paramref name="raw"/>: converted tensors are removed from it and disposed here,
    /// what is left (dropped keys, or everything on an error) stays the caller's to dispose.</summary>
    private static StateDict Normalise(string path, string format, string wrapper, KeyNaming naming, Dictionary<string, Tensor> raw, Device? device)
    {
        bool strip = naming.StripModule, deepSpeed = naming.DeepSpeed;
        var keys = raw.Keys.ToDictionary(k => k, naming.Stripped, StringComparer.Ordinal);
        var dtypes = raw.Values.GroupBy(t => t.dtype).ToDictionary(g => g.Key, g => g.Count());
        var dropped = new List<string>();
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        int converted = 0;
        try
        {
            foreach (var (original, key) in keys)
            {
                var name = deepSpeed ? DeepSpeedKeyMap.Rename(key) : key;
                if (name is null)
                {
                    dropped.Add(original);
                    continue;
                }
                if (result.ContainsKey(name)) throw new CheckpointException($"{path}: two keys map to '{name}' (second: '{original}').");
                raw.Remove(original, out var taken);
                using var t = taken!;   // freed as soon as converted, so peak memory is one tensor above the file's size
                bool toFloat = t.dtype is ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64;
                if (toFloat) converted++;
                using var squeezed = deepSpeed && DeepSpeedKeyMap.IsResidualScale(key) ? Squeeze(t) : t.alias();
                result[name] = squeezed.to(toFloat ? ScalarType.Float32 : t.dtype, device ?? CPU, copy: false);
            }
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        var report = new CheckpointReport(path, format, wrapper, deepSpeed, strip, dropped, dtypes, converted);
        return new StateDict(result, report);
    }

    /// <summary>[1, 1, D] -> [D] (size-1 dims 1 then 0 only, as squeeze(1).squeeze(0)).</summary>
    private static Tensor Squeeze(Tensor t)
    {
        using var a = t.dim() > 1 && t.size(1) == 1 ? t.squeeze(1) : t.alias();
        return a.dim() > 0 && a.size(0) == 1 ? a.squeeze(0) : a.alias();
    }
}
