using UniPerceiverMoe.Model.Checkpoints;
using static TorchSharp.torch;

namespace UniPerceiverMoe.TestSupport;

/// <summary>
/// Locates and loads a golden fixture set (outputs of the original PyTorch implementation). The directory comes from
/// UPMOE_GOLDEN, default ../shared/golden/tiny beside the repository. Tensors are loaded once per test run and shared
/// read-only between tests.
/// </summary>
public static class GoldenFixture
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string Directory { get; } = Path.GetFullPath(
        Environment.GetEnvironmentVariable("UPMOE_GOLDEN") is { Length: > 0 } dir ? dir : Path.Combine(RepoRoot, "..", "shared", "golden", "tiny"));

    private static readonly Lazy<Dictionary<string, Tensor>> inputs = new(() => SafeTensors.Load(Path.Combine(Directory, "inputs.safetensors")));
    private static readonly Lazy<Dictionary<string, Tensor>> outputs = new(() => SafeTensors.Load(Path.Combine(Directory, "outputs.safetensors")));

    public static string File(string name) => Path.Combine(Directory, name);

    public static IReadOnlyDictionary<string, Tensor> Inputs => inputs.Value;

    public static IReadOnlyDictionary<string, Tensor> Outputs => outputs.Value;

    public static Tensor Input(string name) => Get(inputs.Value, name, "inputs");

    public static Tensor Output(string name) => Get(outputs.Value, name, "outputs");

    private static Tensor Get(Dictionary<string, Tensor> d, string name, string file) =>
        d.TryGetValue(name, out var t) ? t : throw new KeyNotFoundException($"{file}.safetensors in {Directory} has no tensor '{name}'.");

    /// <summary>The fixture's class names in the order of its logits (run_meta.json "class_names").</summary>
    public static IReadOnlyList<string> ClassNames()
    {
        using var doc = System.Text.Json.JsonDocument.Parse(System.IO.File.ReadAllText(File("run_meta.json")));
        return doc.RootElement.GetProperty("class_names").EnumerateArray().Select(e => e.GetString()!).ToArray();
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "UniPerceiverMoe.Actors.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no UniPerceiverMoe.Actors.sln above {AppContext.BaseDirectory}.");
    }
}
