using System.Security.Cryptography;

namespace UniPerceiverMoe.Model.Checkpoints;

/// <summary>Content identity of a checkpoint (SHA-256 of the file), for cache keys that must change with the weights.
/// Memoised per (path, size, modification time) within the process.</summary>
public static class CheckpointFingerprint
{
    private static readonly Dictionary<(string, long, DateTime), string> memo = new();

    public static string Compute(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"{path}: checkpoint not found.", path);
        var key = (info.FullName, info.Length, info.LastWriteTimeUtc);
        lock (memo)
            if (memo.TryGetValue(key, out var known)) return known;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        var hash = Convert.ToHexStringLower(SHA256.HashData(stream));
        lock (memo) memo[key] = hash;
        return hash;
    }
}
