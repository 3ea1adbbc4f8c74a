// Ports uniperceiver/tokenization/tokenization_clip.py ClipTokenizer.encode/decode: clean, pre-tokenize, byte-level
// BPE over CLIP's merges (Microsoft.ML.Tokenizers' BpeTokenizer does the merging), no BOS/EOS added.
using System.Text;
using Microsoft.ML.Tokenizers;

namespace UniPerceiverMoe.Model.Tokenization;

/// <summary>Size limits checked by <see cref="ClipTokenizer.Encode"/>; both must be positive.</summary>
public sealed record ClipTokenizerLimits(int MaxInputChars = 100_000, int MaxTokens = 16_384);

/// <summary>Uni-Perceiver's CLIP tokenizer. Safe to share between threads: all state is immutable after construction
/// except BpeTokenizer's word cache, which takes a lock.</summary>
public sealed class ClipTokenizer
{
    public const int StartOfText = 49406;
    public const int EndOfText = 49407;
    public const int Mask = 49408;
    public const int Gen = 49409;
    public const int Spe = 49410;
    public const int VocabularySize = ClipBpeVocabulary.Size;

    private readonly ClipBpeVocabulary _vocabulary;
    private readonly BpeTokenizer _bpe;

    public ClipTokenizerLimits Limits { get; }

    public ClipTokenizer(ClipBpeVocabulary vocabulary, ClipTokenizerLimits? limits = null)
    {
        Limits = limits ?? new ClipTokenizerLimits();
        if (Limits.MaxInputChars <= 0 || Limits.MaxTokens <= 0)
            throw new ArgumentOutOfRangeException(nameof(limits), Limits, "Tokenizer limits must be positive.");
        _vocabulary = vocabulary;
        // The BPE sees one byte-mapped regex piece at a time: no normalizer, a pre-tokenizer that keeps the
        // piece whole, "</w>" appended to the last symbol before merging (as CLIP's bpe() does).
        var byteTokens = vocabulary.Ids.Where(kv => kv.Value < StartOfText);
        _bpe = BpeTokenizer.Create(new BpeOptions(byteTokens)
        {
            Merges = vocabulary.Merges,
            EndOfWordSuffix = ClipBpeVocabulary.EndOfWord,
            PreTokenizer = new WholeTextPreTokenizer(),
        });
    }

    /// <summary>Loads the vocabulary found by <see cref="VocabularyLocator"/>.</summary>
    public static ClipTokenizer Load(string? vocabularyPath = null, ClipTokenizerLimits? limits = null) =>
        new(ClipBpeVocabulary.LoadDefault(vocabularyPath), limits);

    /// <summary>Token ids of <paramref name="text"/> (reference: ClipTokenizer.encode). Throws ArgumentException when
    /// the text is longer than <see cref="ClipTokenizerLimits.MaxInputChars"/> or yields more than
    /// <see cref="ClipTokenizerLimits.MaxTokens"/> tokens.</summary>
    public IReadOnlyList<int> Encode(string text)
    {
        var ids = new List<int>();
        foreach (var piece in Pieces(text))
        {
            if (_vocabulary.Ids.TryGetValue(piece, out var special) && special >= StartOfText) ids.Add(special);
            else ids.AddRange(_bpe.EncodeToIds(ByteUnicode.Encode(piece)));
            if (ids.Count > Limits.MaxTokens)
                throw new ArgumentException(
                    $"Text encodes to more than {Limits.MaxTokens} tokens (ClipTokenizerLimits.MaxTokens).", nameof(text));
        }
        return ids;
    }

    /// <summary>BPE token strings of <paramref name="text"/> (reference: ClipTokenizer.tokenize).</summary>
    public IReadOnlyList<string> Tokenize(string text) => Encode(text).Select(id => _vocabulary.Tokens[id]).ToList();

    /// <summary>A target sequence as the reference datasets build it: encode(text + " &lt;|endoftext|&gt;"), then, when
    /// longer than <paramref name="maxLength"/>, tokens[:maxLength-1] + [tokens[-1]] so the end token survives.</summary>
    public IReadOnlyList<int> EncodeForTarget(string text, int maxLength)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        var ids = Encode(text + " <|endoftext|>");
        if (ids.Count <= maxLength) return ids;
        var truncated = ids.Take(maxLength - 1).ToList();
        truncated.Add(ids[^1]);
        return truncated;
    }

    /// <summary>Text of <paramref name="ids"/> (reference: ClipTokenizer.decode): token strings concatenated, mapped
    /// back to bytes, UTF-8 decoded with U+FFFD for invalid sequences, then every "&lt;/w&gt;" replaced by a space.</summary>
    public string Decode(IEnumerable<int> ids)
    {
        var bytes = new List<byte>();
        foreach (var id in ids)
        {
            if ((uint)id >= VocabularySize)
                throw new ArgumentOutOfRangeException(nameof(ids), id, $"Token id outside the vocabulary [0, {VocabularySize}).");
            foreach (var c in _vocabulary.Tokens[id])
            {
                // Every char of every vocabulary entry (specials and "</w>" included) is in the byte alphabet.
                if (!ByteUnicode.TryDecodeChar(c, out var b))
                    throw new InvalidDataException($"Token {id} holds '{c}', outside the byte alphabet.");
                bytes.Add(b);
            }
        }
        return Encoding.UTF8.GetString(bytes.ToArray()).Replace(ClipBpeVocabulary.EndOfWord, " ", StringComparison.Ordinal);
    }

    private List<string> Pieces(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > Limits.MaxInputChars)
            throw new ArgumentException(
                $"Text has {text.Length} chars, more than {Limits.MaxInputChars} (ClipTokenizerLimits.MaxInputChars).", nameof(text));
        return ClipPreTokenizer.Split(TextCleaner.Clean(text));
    }

    /// <summary>Yields the whole input as one pre-token.</summary>
    private sealed class WholeTextPreTokenizer : PreTokenizer
    {
        public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) => [(0, text.Length)];

        public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) => [(0, text.Length)];
    }
}
