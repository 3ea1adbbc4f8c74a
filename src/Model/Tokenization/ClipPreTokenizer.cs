// Ports the pre-tokenizing regex of uniperceiver/tokenization/tokenization_clip.py (regex module, IGNORECASE):
//   <\|startoftext\|>|<\|endoftext\|>|<\|gen\|>|<\|spe\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// as a scanner over code points (.NET's Regex classes see UTF-16 units, so a supplementary letter such as U+20000
// would not be \p{L} there). Like re.findall it tries the alternatives in order at each position and skips
// whitespace that matches none. `<|mask|>` is deliberately not an alternative.
using System.Globalization;
using System.Text;

namespace UniPerceiverMoe.Model.Tokenization;

internal static class ClipPreTokenizer
{
    /// <summary>Special strings the regex matches whole (Uni-Perceiver's list: no &lt;|mask|&gt;).</summary>
    public static readonly string[] RecognisedSpecials = ["<|startoftext|>", "<|endoftext|>", "<|gen|>", "<|spe|>"];

    private static readonly string[] Contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];

    /// <summary>Splits already-cleaned (lowercased) text. IGNORECASE only matters for uppercase input, which the
    /// cleaner has lowercased, so matching is ordinal-ignore-case on ASCII.</summary>
    public static List<string> Split(string text)
    {
        var pieces = new List<string>();
        var i = 0;
        while (i < text.Length)
        {
            var literal = MatchLiteral(text, i);
            if (literal > 0)
            {
                pieces.Add(text.Substring(i, literal));
                i += literal;
                continue;
            }
            var kind = Classify(text, i, out var width);
            if (kind == Kind.Space) { i += width; continue; }
            var start = i;
            i += width;
            if (kind == Kind.Letter)
                while (i < text.Length && Classify(text, i, out width) == Kind.Letter) i += width;
            else if (kind == Kind.Other)
                while (i < text.Length && Classify(text, i, out width) == Kind.Other) i += width;
            pieces.Add(text[start..i]);
        }
        return pieces;
    }

    private static int MatchLiteral(string text, int i)
    {
        var c = text[i];
        if (c == '<')
        {
            foreach (var s in RecognisedSpecials)
                if (i + s.Length <= text.Length && text.AsSpan(i, s.Length).Equals(s, StringComparison.OrdinalIgnoreCase))
                    return s.Length;
        }
        else if (c == '\'')
        {
            foreach (var s in Contractions)
                if (i + s.Length <= text.Length && text.AsSpan(i, s.Length).Equals(s, StringComparison.OrdinalIgnoreCase))
                    return s.Length;
        }
        return 0;
    }

    private enum Kind { Letter, Number, Space, Other }

    private static Kind Classify(string text, int i, out int width)
    {
        if (Rune.DecodeFromUtf16(text.AsSpan(i), out var rune, out width) != System.Buffers.OperationStatus.Done)
            return Kind.Other; // a lone surrogate: neither \s, \p{L} nor \p{N}
        if (rune.IsBmp && PythonText.IsSpace((char)rune.Value)) return Kind.Space;
        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => Kind.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => Kind.Number,
            _ => Kind.Other,
        };
    }
}
