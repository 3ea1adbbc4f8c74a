using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using UniPerceiverMoe.Model.Checkpoints;
using UniPerceiverMoe.Model.Inference;

namespace UniPerceiverMoe.Model.Decoding;

/// <summary>
/// The full vocabulary bank cached on disk per checkpoint: computed once (the reference recomputes it at every process
/// start: ~150 s for MoE-B on 2 cores) and loaded in well under a second afterwards. The key is the checkpoint's
/// SHA-256 plus the model shape, so new weights never reuse a stale bank.
/// </summary>
public static class VocabularyBankCache
{
    /// <summary>Bump when the bank's definition changes.</summary>
    private const string FormatVersion = "bank-v1";

    public static string PathFor(string cacheDir, string checkpointPath, UniPerceiverConfig config)
    {
        var fingerprint = CheckpointFingerprint.Compute(checkpointPath);
        var shape = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(config.ToJson() + FormatVersion)))[..12];
        return Path.Combine(cacheDir, "banks", $"{fingerprint[..24]}-{shape}.safetensors");
    }

    /// <summary>Loads the cached bank or builds and saves it, reporting build progress. <paramref name="log"/> gets one line.</summary>
    public static VocabularyBank LoadOrBuild(UniPerceiverRunner runner, string checkpointPath, string cacheDir,
        IProgress<(int Done, int Total)>? progress = null, Action<string>? log = null, CancellationToken cancellation = default)
    {
        var path = PathFor(cacheDir, checkpointPath, runner.Model.Config);
        var watch = Stopwatch.StartNew();
        if (File.Exists(path))
        {
            try
            {
                var bank = VocabularyBank.Load(path, runner.Device);
                if (bank.Count == runner.Model.Config.VocabSize && bank.Rows.size(1) == runner.Model.Config.Hidden)
                {
                    log?.Invoke($"vocabulary bank loaded from {path} in {watch.Elapsed.TotalMilliseconds:0} ms");
                    return bank;
                }
                bank.Dispose();
                log?.Invoke($"vocabulary bank at {path} has the wrong shape; rebuilding");
            }
            catch (Exception e) when (e is InvalidDataException or IOException or IndexOutOfRangeException or ArgumentException)
            {
                log?.Invoke($"vocabulary bank at {path} is unreadable ({e.Message}); rebuilding");
            }
        }
        var built = VocabularyBank.Build(runner, progress: progress, cancellation: cancellation);
        built.Save(path, new Dictionary<string, string>
        {
            ["checkpoint_sha256"] = CheckpointFingerprint.Compute(checkpointPath),
            ["format"] = FormatVersion,
        });
        log?.Invoke($"vocabulary bank of {built.Count} words built in {watch.Elapsed.TotalSeconds:0.0} s, cached at {path}");
        return built;
    }
}
