// The 0x80..0x9F rows of ftfy's "sloppy-windows-1252" codec (Windows-1252 with its 5 undefined bytes mapped to
// the Latin-1 C1 controls); the same table is Python html.unescape's _invalid_charrefs for 0x80..0x9F.
namespace UniPerceiverMoe.Model.Tokenization;

internal static class Windows1252
{
    /// <summary>Char decoded from byte 0x80 + index.</summary>
    public const string Sloppy =
        "\u20AC\u0081\u201A\u0192\u201E\u2026\u2020\u2021\u02C6\u2030\u0160\u2039\u0152\u008D\u017D\u008F" +
        "\u0090\u2018\u2019\u201C\u201D\u2022\u2013\u2014\u02DC\u2122\u0161\u203A\u0153\u009D\u017E\u0178";

    private static readonly Dictionary<char, byte> HighBytes = BuildHighBytes();

    /// <summary>Byte of <paramref name="c"/> in sloppy-windows-1252 (0x00..0xFF), or -1 if not encodable.
    /// U+FFFD (sloppy's stand-in for byte 0x1A) is treated as not encodable.</summary>
    public static int SloppyByte(char c) =>
        c < 0x80 ? c : HighBytes.TryGetValue(c, out var b) ? b : -1;

    /// <summary>Byte of <paramref name="c"/> in Latin-1, or -1.</summary>
    public static int Latin1Byte(char c) => c <= 0xFF ? c : -1;

    private static Dictionary<char, byte> BuildHighBytes()
    {
        var map = new Dictionary<char, byte>();
        for (var i = 0; i < Sloppy.Length; i++) map[Sloppy[i]] = (byte)(0x80 + i);
        for (var b = 0xA0; b <= 0xFF; b++) map[(char)b] = (byte)b;
        return map;
    }
}
