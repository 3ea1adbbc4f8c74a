// Ports Python's html.unescape (Lib/html/__init__.py) and ftfy 6.1.1's fixes.unescape_html (stricter: only
// "&name;" / "&#..;" forms, plus all-caps variants of lowercase entity names such as "&EACUTE;").
using System.Text;

namespace UniPerceiverMoe.Model.Tokenization;

internal static class HtmlUnescape
{
    private static readonly Lazy<Dictionary<string, string>> Html5 = new(LoadHtml5);
    private static readonly Lazy<Dictionary<string, string>> FtfyEntities = new(BuildFtfyEntities);

    /// <summary>Python's html.unescape: numeric references (decimal/hex, optional ';', invalid ones mapped like
    /// the HTML5 spec), named references with or without ';', longest-prefix match for unterminated names.</summary>
    public static string Python(string s)
    {
        if (!s.Contains('&')) return s;
        var sb = new StringBuilder(s.Length);
        var i = 0;
        while (i < s.Length)
        {
            var amp = s.IndexOf('&', i);
            if (amp < 0) { sb.Append(s, i, s.Length - i); break; }
            sb.Append(s, i, amp - i);
            i = amp + 1 + ReplaceReference(s, amp + 1, sb);
        }
        return sb.ToString();
    }

    /// <summary>Appends the replacement of the reference starting after '&amp;' at <paramref name="p"/>;
    /// returns the number of chars consumed after the '&amp;'.</summary>
    private static int ReplaceReference(string s, int p, StringBuilder sb)
    {
        if (p < s.Length && s[p] == '#')
        {
            var hex = p + 1 < s.Length && s[p + 1] is 'x' or 'X';
            var q = hex ? p + 2 : p + 1;
            var digitsStart = q;
            while (q < s.Length && (hex ? char.IsAsciiHexDigit(s[q]) : char.IsAsciiDigit(s[q]))) q++;
            if (q == digitsStart) { sb.Append('&'); return 0; }
            sb.Append(CharRef(s.AsSpan(digitsStart, q - digitsStart), hex));
            if (q < s.Length && s[q] == ';') q++;
            return q - p;
        }
        // [^\t\n\f <&#;]{1,32};? counted in code points.
        int end = p, count = 0;
        while (end < s.Length && count < 32 && s[end] is not ('\t' or '\n' or '\f' or ' ' or '<' or '&' or '#' or ';'))
        {
            end += char.IsSurrogatePair(s, end) ? 2 : 1;
            count++;
        }
        if (count == 0) { sb.Append('&'); return 0; }
        if (end < s.Length && s[end] == ';') end++;
        var name = s[p..end];
        var table = Html5.Value;
        if (table.TryGetValue(name, out var value)) { sb.Append(value); return end - p; }
        var cps = name.EnumerateRunes().Select(r => r.ToString()).ToArray();
        for (var x = cps.Length - 1; x > 1; x--)
        {
            var prefix = string.Concat(cps.Take(x));
            if (table.TryGetValue(prefix, out value))
            {
                sb.Append(value).Append(name, prefix.Length, name.Length - prefix.Length);
                return end - p;
            }
        }
        sb.Append('&').Append(name);
        return end - p;
    }

    private static string CharRef(ReadOnlySpan<char> digits, bool hex)
    {
        long num = 0;
        foreach (var c in digits)
        {
            num = num * (hex ? 16 : 10) + (char.IsAsciiDigit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
            if (num > 0x10FFFF) return "\uFFFD"; // Python: anything above U+10FFFF becomes U+FFFD.
        }
        if (num == 0) return "\uFFFD";
        if (num == 0x0D) return "\r";
        if (num is >= 0x80 and <= 0x9F) return Windows1252.Sloppy[(int)num - 0x80].ToString();
        if (num is >= 0xD800 and <= 0xDFFF) return "\uFFFD";
        if (num is >= 0x1 and <= 0x8 or 0xB or >= 0xE and <= 0x1F or 0x7F or >= 0xFDD0 and <= 0xFDEF
            || (num & 0xFFFE) == 0xFFFE)
            return "";
        return char.ConvertFromUtf32((int)num);
    }

    /// <summary>ftfy's unescape_html: replaces matches of &amp;#?[0-9A-Za-z]{1,24}; that are known entities
    /// (or numeric references html.unescape fully decodes); everything else is left as is.</summary>
    public static string Ftfy(string s)
    {
        if (!s.Contains('&')) return s;
        var sb = new StringBuilder(s.Length);
        var i = 0;
        while (i < s.Length)
        {
            var amp = s.IndexOf('&', i);
            if (amp < 0) { sb.Append(s, i, s.Length - i); break; }
            sb.Append(s, i, amp - i);
            var q = amp + 1;
            if (q < s.Length && s[q] == '#') q++;
            var start = q;
            while (q < s.Length && q - start < 24 && char.IsAsciiLetterOrDigit(s[q])) q++;
            if (q == start || q >= s.Length || s[q] != ';') { sb.Append('&'); i = amp + 1; continue; }
            var match = s[amp..(q + 1)];
            i = q + 1;
            if (FtfyEntities.Value.TryGetValue(match, out var value)) sb.Append(value);
            else if (match.StartsWith("&#", StringComparison.Ordinal))
            {
                var unescaped = Python(match);
                sb.Append(unescaped.Contains(';') ? match : unescaped);
            }
            else sb.Append(match);
        }
        return sb.ToString();
    }

    private static Dictionary<string, string> LoadHtml5()
    {
        var table = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in HtmlEntityData.Html5.Split([' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = item.IndexOf('=');
            var value = string.Concat(item[(eq + 1)..].Split('+').Select(h => char.ConvertFromUtf32(Convert.ToInt32(h, 16))));
            table[item[..eq]] = value;
        }
        return table;
    }

    private static Dictionary<string, string> BuildFtfyEntities()
    {
        var entities = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in Html5.Value)
        {
            if (!name.EndsWith(';')) continue;
            entities["&" + name] = value;
            if (name != name.ToLowerInvariant()) continue;
            var upper = "&" + name.ToUpperInvariant();
            // Python: char.upper() is a full case mapping; only 'ß' -> "SS" matters among entity values in practice.
            if (Python(upper) == upper) entities[upper] = value == "ß" ? "SS" : value.ToUpperInvariant();
        }
        return entities;
    }
}
