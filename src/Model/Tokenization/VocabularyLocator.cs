// Finds the CLIP merges file (bpe_simple_vocab_16e6.txt[.gz]); the product never ships or downloads it itself.
namespace UniPerceiverMoe.Model.Tokenization;

public static class VocabularyLocator
{
    public const string EnvironmentVariable = "UPMOE_CLIP_VOCAB";
    public const string FileName = "bpe_simple_vocab_16e6.txt";

    /// <summary>Default cache location written by scripts/fetch-clip-vocab.sh:
    /// ${UPMOE_CACHE:-~/.cache/upmoe}/bpe_simple_vocab_16e6.txt.</summary>
    public static string CachePath
    {
        get
        {
            var cache = Environment.GetEnvironmentVariable("UPMOE_CACHE");
            if (string.IsNullOrEmpty(cache))
                cache = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "upmoe");
            return Path.Combine(cache, FileName);
        }
    }

    /// <summary>Explicit path, else $UPMOE_CLIP_VOCAB, else the cache path (.txt, then .txt.gz).
    /// Throws FileNotFoundException naming every place tried and how to fetch the file.</summary>
    public static string Locate(string? explicitPath = null)
    {
        if (!string.IsNullOrEmpty(explicitPath))
        {
            if (File.Exists(explicitPath)) return explicitPath;
            throw NotFound($"the given path '{explicitPath}' does not exist");
        }
        var fromEnv = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrEmpty(fromEnv))
        {
            if (File.Exists(fromEnv)) return fromEnv;
            throw NotFound($"${EnvironmentVariable}='{fromEnv}' does not exist");
        }
        var cached = CachePath;
        if (File.Exists(cached)) return cached;
        if (File.Exists(cached + ".gz")) return cached + ".gz";
        throw NotFound($"no explicit path, ${EnvironmentVariable} unset, and neither '{cached}' nor '{cached}.gz' exists");
    }

    private static FileNotFoundException NotFound(string why) => new(
        $"CLIP BPE vocabulary not found: {why}. Fetch it with scripts/fetch-clip-vocab.sh " +
        $"(writes {CachePath}), or set ${EnvironmentVariable} to a bpe_simple_vocab_16e6.txt[.gz] file.");
}
