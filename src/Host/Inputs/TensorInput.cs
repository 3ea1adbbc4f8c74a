using UniPerceiverMoe.Model.Checkpoints;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Host.Inputs;

/// <summary>
/// An already preprocessed input stored in a safetensors file, given as <c>FILE.safetensors:NAME</c>. The rank says
/// what it is: [3, S, S] an image, [T, 3, S, S] a video clip, [V, T, 3, S, S] temporal views of a clip.
/// </summary>
public static class TensorInput
{
    public static VisualInput Load(string spec, int maxRank)
    {
        int colon = spec.LastIndexOf(':');
        if (colon <= 0 || colon == spec.Length - 1) throw new InputException(spec, "expected FILE.safetensors:NAME");
        string file = spec[..colon], name = spec[(colon + 1)..];
        if (!File.Exists(file)) throw new InputException(file, "tensor file not found");
        var all = InputErrors.Guard(file, () => SafeTensors.Load(file));
        VisualInput? result = null;
        try
        {
            if (!all.TryGetValue(name, out var chosen))
                throw new InputException(spec, $"no tensor '{name}' in {file} (it has {string.Join(", ", all.Keys.Order(StringComparer.Ordinal))})");
            var shape = chosen.shape;
            if (chosen.dtype != ScalarType.Float32)
                throw new InputException(spec, $"is {chosen.dtype}, expected preprocessed float32 pixels");
            if (shape.Length < 3 || shape.Length > maxRank || shape[^3] != 3)
                throw new InputException(spec, $"has shape [{string.Join(", ", shape)}]; expected {Expected(maxRank)}");
            result = new VisualInput(spec, chosen, IsVideo: shape.Length >= 4);
            return result;
        }
        finally
        {
            // The result owns its tensor; every other tensor of the file is released here.
            foreach (var t in all.Values)
                if (!ReferenceEquals(t, result?.Pixels)) t.Dispose();
        }
    }

    private static string Expected(int maxRank) => maxRank >= 5
        ? "[3, S, S] (image), [T, 3, S, S] (clip) or [V, T, 3, S, S] (clip views)"
        : "[3, S, S] (image) or [T, 3, S, S] (clip)";
}
