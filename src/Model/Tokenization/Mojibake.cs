// A subset of ftfy 6.1.1's fix_encoding (ftfy/__init__.py _fix_encoding_one_step_and_explain, fixes.py
// decode_inconsistent_utf8 / fix_c1_controls): undoes UTF-8 that was decoded as Latin-1 or Windows-1252.
//
// Not covered (documented limits): ftfy's full `is_bad` heuristic (replaced by `LooksLikeMojibake` below:
// a UTF-8 lead byte immediately followed by a continuation byte, read in sloppy Windows-1252); the other
// single-byte codecs ftfy tries (windows-1250/1251/1253/1254, iso-8859-2, macroman, cp437); restore_byte_a0,
// replace_lossy_sequences and the "utf-8-variants" (CESU-8 / Java) decoder.
using System.Text;
using System.Text.Unicode;

namespace UniPerceiverMoe.Model.Tokenization;

internal static class Mojibake
{
    /// <summary>fix_encoding: applies single fixing steps until the text stops changing.</summary>
    public static string FixEncoding(string text)
    {
        while (true)
        {
            var fixedText = OneStep(text);
            if (fixedText == text) return text;
            text = fixedText;
        }
    }

    private static string OneStep(string text)
    {
        if (text.Length == 0 || Ascii.IsValid(text) || !LooksLikeMojibake(text)) return text;
        var latin1 = TryEncode(text, Windows1252.Latin1Byte);
        if (latin1 is not null && Utf8.IsValid(latin1)) return Encoding.UTF8.GetString(latin1);
        var sloppy = TryEncode(text, Windows1252.SloppyByte);
        if (sloppy is not null && Utf8.IsValid(sloppy)) return Encoding.UTF8.GetString(sloppy);

        var embedded = DecodeInconsistentUtf8(text);
        if (embedded != text) return embedded;

        // Both remaining ftfy branches (Latin-1 re-read as Windows-1252, then fix_c1_controls) come to this:
        // the strict re-read fails exactly where sloppy decoding keeps the undefined bytes as they are.
        return FixC1Controls(text);
    }

    /// <summary>fix_c1_controls: each U+0080..U+009F read as its sloppy Windows-1252 char.</summary>
    public static string FixC1Controls(string text)
    {
        if (!text.Any(c => c is >= '\x80' and <= '\x9f')) return text;
        return string.Create(text.Length, text, static (span, t) =>
        {
            for (var i = 0; i < t.Length; i++)
                span[i] = t[i] is >= '\x80' and <= '\x9f' ? Windows1252.Sloppy[t[i] - 0x80] : t[i];
        });
    }

    /// <summary>Stand-in for ftfy's is_bad: some char that would be a UTF-8 lead byte (0xC2..0xF4) is directly
    /// followed by one that would be a continuation byte (0x80..0xBF).</summary>
    private static bool LooksLikeMojibake(string text)
    {
        for (var i = 0; i + 1 < text.Length; i++)
            if (SloppyByte(text[i]) is >= 0xC2 and <= 0xF4 && IsContinuation(text[i + 1])) return true;
        return false;
    }

    /// <summary>Sloppy Windows-1252 byte, with the Latin-1 C1 controls read as their own byte values.</summary>
    private static int SloppyByte(char c) => c is >= '\x80' and <= '\x9f' ? c : Windows1252.SloppyByte(c);

    private static bool IsContinuation(char c) => SloppyByte(c) is >= 0x80 and <= 0xBF;

    /// <summary>Continuations that also occur legitimately in text (dashes, curly quotes, ellipsis, NBSP): a
    /// mojibake run may follow one of them, but not any other continuation (ftfy's utf8_continuation_strict).</summary>
    private static bool IsStrictContinuation(char c) =>
        IsContinuation(c) && c is not ('–' or '—' or '‘' or '’' or '‚' or '“' or '”' or '„' or '…' or '\xa0');

    /// <summary>decode_inconsistent_utf8: fixes runs of UTF-8 mojibake inside text that does not decode as a whole.
    /// Lead chars are those of ftfy's Windows-1252 clues: 0xC2..0xDF (2 bytes), 0xE0..0xEF (3), 0xF0/0xF3 (4).</summary>
    private static string DecodeInconsistentUtf8(string text)
    {
        var sb = new StringBuilder(text.Length);
        var i = 0;
        while (i < text.Length)
        {
            var end = i;
            if (i == 0 || !IsStrictContinuation(text[i - 1]))
                while (SequenceLength(text, end) is var n and > 0) end += n;
            if (end == i) { sb.Append(text[i++]); continue; }
            var run = text[i..end];
            sb.Append(run.Length < text.Length ? FixEncoding(run) : run);
            i = end;
        }
        return sb.ToString();
    }

    private static int SequenceLength(string text, int i)
    {
        if (i >= text.Length) return 0;
        var lead = SloppyByte(text[i]);
        var n = lead switch
        {
            >= 0xC2 and <= 0xDF => 2,
            >= 0xE0 and <= 0xEF => 3,
            0xF0 or 0xF3 => 4,
            _ => 0,
        };
        if (n == 0 || i + n > text.Length) return 0;
        for (var k = 1; k < n; k++)
            if (!IsContinuation(text[i + k])) return 0;
        return n;
    }

    private static byte[]? TryEncode(string text, Func<char, int> byteOf)
    {
        var bytes = new byte[text.Length];
        for (var i = 0; i < text.Length; i++)
        {
            var b = byteOf(text[i]);
            if (b < 0) return null;
            bytes[i] = (byte)b;
        }
        return bytes;
    }
}
