using UniPerceiverMoe.Demo.Training;

namespace UniPerceiverMoe.Host.Cli;

/// <summary>
/// Where the demo model is, for every command that needs a model and was given none. The project ships one (trained
/// by <c>upmoe train-demo</c> with its default recipe and seed, weights stored as float16) in
/// <c>demo-model/</c> beside upmoe.dll (source: src/Host/DemoModel); a model trained into the cache
/// (<c>&lt;cache&gt;/demo-model-r2</c>, what <c>upmoe demo</c> trains when nothing is shipped) is the fallback.
/// </summary>
public static class DemoModelLocator
{
    /// <summary>The shipped model's folder name in the build output.</summary>
    public const string ShippedDirectoryName = "demo-model";

    /// <summary>The shipped model beside the running assembly (it may be absent in a trimmed install).</summary>
    public static string Shipped => Path.Combine(AppContext.BaseDirectory, ShippedDirectoryName);

    /// <summary>Where <c>upmoe demo</c> trains the demo model when none is shipped.</summary>
    public static string Cached(string cacheDir) => Path.Combine(cacheDir, DemoModelFiles.CacheDirectoryName);

    /// <summary>Whether <paramref name="directory"/> holds a whole demo model (weights, config, manifest).</summary>
    public static bool IsComplete(string directory) =>
        new[] { DemoModelFiles.ModelFile, DemoModelFiles.ConfigFile, DemoModelFiles.ManifestFile }.All(f => File.Exists(Path.Combine(directory, f)));

    /// <summary>The shipped model if present, else a model trained into the cache, else null.</summary>
    public static string? Find(string cacheDir) =>
        IsComplete(Shipped) ? Shipped : IsComplete(Cached(cacheDir)) ? Cached(cacheDir) : null;

    /// <summary>The one stderr line a command prints when it falls back to the demo model.</summary>
    public static string Notice(string directory) =>
        $"upmoe: no checkpoint given: using the demo model in {directory} (a tiny model trained on synthetic shape videos; " +
        "it knows only circles, squares and triangles that move, turn colour, appear or disappear)";
}
