// Ports ftfy 6.1.1's fix_text with its default TextFixerConfig (ftfy/__init__.py fix_text / fix_and_explain,
// ftfy/fixes.py, ftfy/chardata.py), as Uni-Perceiver's basic_clean calls it.
//
// Covered: line segmentation and the "auto" HTML rule, unescape_html, fix_encoding (subset: see Mojibake.cs),
// fix_c1_controls, fix_latin_ligatures, fix_character_width, uncurl_quotes, fix_line_breaks, fix_surrogates
// (lone surrogates -> U+FFFD; pairs are already whole chars in .NET), remove_terminal_escapes,
// remove_control_chars, NFC. Segment lengths (max_decode_length 1,000,000) count UTF-16 units, not code points.
using System.Text;
using System.Text.RegularExpressions;

namespace UniPerceiverMoe.Model.Tokenization;

internal static partial class Ftfy
{
    private const int MaxDecodeLength = 1_000_000;

    private static readonly Dictionary<int, string> WidthMap = UnicodeNfc.Items(UnicodeData.WidthMap).ToDictionary(
        item => Convert.ToInt32(item[..item.IndexOf('=')], 16),
        item => string.Concat(item[(item.IndexOf('=') + 1)..].Split('+')
            .Select(h => char.ConvertFromUtf32(Convert.ToInt32(h, 16)))));

    private static readonly Dictionary<char, string> Ligatures = new()
    {
        ['Ĳ'] = "IJ", ['ĳ'] = "ij", ['ŉ'] = "ʼn", ['Ǳ'] = "DZ", ['ǲ'] = "Dz", ['ǳ'] = "dz",
        ['Ǆ'] = "DŽ", ['ǅ'] = "Dž", ['ǆ'] = "dž", ['Ǉ'] = "LJ", ['ǈ'] = "Lj", ['ǉ'] = "lj",
        ['Ǌ'] = "NJ", ['ǋ'] = "Nj", ['ǌ'] = "nj", ['ﬀ'] = "ff", ['ﬁ'] = "fi", ['ﬂ'] = "fl",
        ['ﬃ'] = "ffi", ['ﬄ'] = "ffl", ['ﬅ'] = "ſt", ['ﬆ'] = "st",
    };

    [GeneratedRegex(@"\x1b\[(?:\d|;)*[a-zA-Z]", RegexOptions.CultureInvariant)]
    private static partial Regex AnsiEscape();

    public static string FixText(string text)
    {
        var sb = new StringBuilder(text.Length);
        var unescapeHtml = true;
        var pos = 0;
        while (pos < text.Length)
        {
            var brk = text.IndexOf('\n', pos) + 1;
            if (brk == 0) brk = text.Length;
            if (brk - pos > MaxDecodeLength) brk = pos + MaxDecodeLength;
            var segment = text[pos..brk];
            // ftfy: once a segment contains '<' the text is taken for HTML, and entities stay for the rest of it.
            if (segment.Contains('<')) unescapeHtml = false;
            sb.Append(FixSegment(segment, unescapeHtml));
            pos = brk;
        }
        return sb.ToString();
    }

    /// <summary>fix_and_explain: applies every fixer in ftfy's order until a full pass changes nothing.</summary>
    private static string FixSegment(string text, bool unescapeHtml)
    {
        while (true)
        {
            var orig = text;
            if (unescapeHtml) text = HtmlUnescape.Ftfy(text);
            text = Mojibake.FixEncoding(text);
            text = Mojibake.FixC1Controls(text);
            text = Translate(text, c => Ligatures.TryGetValue(c, out var s) ? s : null);
            text = Translate(text, c => WidthMap.TryGetValue(c, out var s) ? s : null);
            text = UncurlQuotes(text);
            text = FixLineBreaks(text);
            text = FixSurrogates(text);
            text = AnsiEscape().Replace(text, "");
            text = Translate(text, c => IsRemovedControl(c) ? "" : null);
            text = UnicodeNfc.Normalize(text);
            if (text == orig) return text;
        }
    }

    /// <summary>str.translate over BMP chars (every key of ftfy's tables is in the BMP).</summary>
    private static string Translate(string text, Func<char, string?> map)
    {
        StringBuilder? sb = null;
        for (var i = 0; i < text.Length; i++)
        {
            var replacement = map(text[i]);
            if (replacement is null) { sb?.Append(text[i]); continue; }
            sb ??= new StringBuilder(text.Length).Append(text, 0, i);
            sb.Append(replacement);
        }
        return sb?.ToString() ?? text;
    }

    private static string UncurlQuotes(string text) => Translate(text, c => c switch
    {
        '\u02bc' or >= '\u2018' and <= '\u201b' => "'",
        >= '\u201c' and <= '\u201f' => "\"",
        _ => null,
    });

    private static string FixLineBreaks(string text) => text
        .Replace("\r\n", "\n", StringComparison.Ordinal).Replace('\r', '\n')
        .Replace('\u2028', '\n').Replace('\u2029', '\n').Replace('\u0085', '\n');

    private static string FixSurrogates(string text)
    {
        StringBuilder? sb = null;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                sb?.Append(c).Append(text[i + 1]);
                i++;
                continue;
            }
            if (!char.IsSurrogate(c)) { sb?.Append(c); continue; }
            sb ??= new StringBuilder(text.Length).Append(text, 0, i);
            sb.Append('\uFFFD');
        }
        return sb?.ToString() ?? text;
    }

    /// <summary>ftfy's CONTROL_CHARS: C0 controls except \t \n \f \r, DEL, U+206A..U+206F, BOM, U+FFF9..U+FFFC.</summary>
    private static bool IsRemovedControl(char c) =>
        c is <= '\x08' or '\x0b' or >= '\x0e' and <= '\x1f' or '\x7f' or >= '\u206a' and <= '\u206f'
            or '\ufeff' or >= '\ufff9' and <= '\ufffc';
}
