// Ports CLIP's bytes_to_unicode() (uniperceiver/tokenization/tokenization_clip.py): a reversible byte <-> char map
// that keeps BPE symbols printable.
namespace UniPerceiverMoe.Model.Tokenization;

public static class ByteUnicode
{
    /// <summary>The 256 bytes in the dict order of bytes_to_unicode(): printable '!'..'~', '¡'..'¬', '®'..'ÿ'
    /// (mapped to themselves) first, then every other byte in ascending order (mapped to U+0100 + n).
    /// This order fixes vocabulary ids 0..255 (and 256..511 with "&lt;/w&gt;").</summary>
    public static IReadOnlyList<byte> BytesInVocabularyOrder { get; }

    /// <summary>Char for each byte value (index = byte).</summary>
    public static IReadOnlyList<char> CharOfByte { get; }

    private static readonly Dictionary<char, byte> ByteOfChar;

    static ByteUnicode()
    {
        var order = new List<byte>(256);
        var chars = new char[256];
        for (var b = '!'; b <= '~'; b++) order.Add((byte)b);
        for (var b = '¡'; b <= '¬'; b++) order.Add((byte)b);
        for (var b = '®'; b <= 'ÿ'; b++) order.Add((byte)b);
        foreach (var b in order) chars[b] = (char)b;
        var n = 0;
        for (var b = 0; b < 256; b++)
        {
            if (order.Contains((byte)b)) continue;
            order.Add((byte)b);
            chars[b] = (char)(256 + n++);
        }
        BytesInVocabularyOrder = order;
        CharOfByte = chars;
        ByteOfChar = new Dictionary<char, byte>(256);
        for (var b = 0; b < 256; b++) ByteOfChar[chars[b]] = (byte)b;
    }

    /// <summary>UTF-8 bytes of <paramref name="text"/>, each replaced by its char (no lone surrogates expected:
    /// they are encoded as U+FFFD).</summary>
    public static string Encode(string text)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        return string.Create(bytes.Length, bytes, static (span, b) =>
        {
            for (var i = 0; i < b.Length; i++) span[i] = CharOfByte[b[i]];
        });
    }

    /// <summary>Maps each char back to its byte; false when a char is outside the 256-char alphabet.</summary>
    public static bool TryDecodeChar(char c, out byte value) => ByteOfChar.TryGetValue(c, out value);
}
