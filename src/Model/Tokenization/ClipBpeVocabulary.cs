// Ports the vocabulary construction of uniperceiver/tokenization/tokenization_clip.py (ClipTokenizer.__init__):
// 256 byte chars, the same with "</w>", merges 1..48894 joined, then Uni-Perceiver's 5 specials (49,411 entries).
using System.IO.Compression;

namespace UniPerceiverMoe.Model.Tokenization;

public sealed class ClipBpeVocabulary
{
    /// <summary>Merge lines used: file lines 1 .. 49152-256-2 (line 0 is the "#version" header).</summary>
    public const int MergeCount = 49152 - 256 - 2;

    /// <summary>Vocabulary size including the 5 specials.</summary>
    public const int Size = 512 + MergeCount + 5;

    public const string EndOfWord = "</w>";

    /// <summary>Special tokens in id order, starting at 49406.</summary>
    public static IReadOnlyList<string> SpecialTokens { get; } =
        ["<|startoftext|>", "<|endoftext|>", "<|mask|>", "<|gen|>", "<|spe|>"];

    /// <summary>Token string of each id (index = id); Count == <see cref="Size"/>.</summary>
    public IReadOnlyList<string> Tokens { get; }

    /// <summary>Merges in rank order, each "left right" as in the file.</summary>
    public IReadOnlyList<string> Merges { get; }

    /// <summary>Id of each token string (ordinal).</summary>
    public IReadOnlyDictionary<string, int> Ids { get; }

    public string SourcePath { get; }

    private ClipBpeVocabulary(IReadOnlyList<string> merges, string sourcePath)
    {
        var tokens = new List<string>(Size);
        foreach (var b in ByteUnicode.BytesInVocabularyOrder) tokens.Add(ByteUnicode.CharOfByte[b].ToString());
        foreach (var b in ByteUnicode.BytesInVocabularyOrder) tokens.Add(ByteUnicode.CharOfByte[b] + EndOfWord);
        foreach (var m in merges) tokens.Add(m.Replace(" ", "", StringComparison.Ordinal));
        tokens.AddRange(SpecialTokens);
        var ids = new Dictionary<string, int>(tokens.Count, StringComparer.Ordinal);
        for (var i = 0; i < tokens.Count; i++)
        {
            // The reference builds a dict from the list: a duplicate would silently shadow an id. The CLIP file has none.
            if (!ids.TryAdd(tokens[i], i))
                throw new InvalidDataException($"{sourcePath}: token '{tokens[i]}' appears twice (ids {ids[tokens[i]]} and {i}).");
        }
        Tokens = tokens;
        Merges = merges;
        Ids = ids;
        SourcePath = sourcePath;
    }

    /// <summary>Loads the CLIP merges file (plain text or gzip, detected by content).</summary>
    public static ClipBpeVocabulary Load(string path)
    {
        string text;
        using (var file = File.OpenRead(path))
        {
            var gz = file.ReadByte() == 0x1F && file.ReadByte() == 0x8B;
            file.Position = 0;
            using Stream input = gz ? new GZipStream(file, CompressionMode.Decompress) : file;
            using var reader = new StreamReader(input, System.Text.Encoding.UTF8);
            text = reader.ReadToEnd();
        }
        var lines = text.Split('\n');
        if (lines.Length < MergeCount + 1 || !lines[0].Contains("#version", StringComparison.Ordinal))
            throw new InvalidDataException(
                $"{path}: not a CLIP merges file (need a '#version' header and at least {MergeCount} merge lines, got {lines.Length - 1} lines).");
        var merges = new string[MergeCount];
        for (var i = 0; i < MergeCount; i++)
        {
            var parts = lines[i + 1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2)
                throw new InvalidDataException($"{path}: line {i + 2} is not a merge pair: '{lines[i + 1]}'.");
            merges[i] = parts[0] + " " + parts[1];
        }
        return new ClipBpeVocabulary(merges, path);
    }

    /// <summary>Loads the file found by <see cref="VocabularyLocator.Locate"/>.</summary>
    public static ClipBpeVocabulary LoadDefault(string? explicitPath = null) => Load(VocabularyLocator.Locate(explicitPath));
}
