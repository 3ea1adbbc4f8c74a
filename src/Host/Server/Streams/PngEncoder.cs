using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace UniPerceiverMoe.Host.Server.Streams;

/// <summary>A minimal PNG writer for the page's frame view: 8-bit RGB, filter 0 on every row, zlib at the fastest
/// level (a 320x240 frame encodes in a millisecond or two).</summary>
public static class PngEncoder
{
    private static readonly uint[] CrcTable = Enumerable.Range(0, 256).Select(n =>
    {
        uint c = (uint)n;
        for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    /// <summary><paramref name="rgb"/>: height × width × 3 bytes, row-major.</summary>
    public static byte[] EncodeRgb(byte[] rgb, int width, int height)
    {
        if (rgb.Length != checked(width * height * 3)) throw new ArgumentException($"{rgb.Length} bytes is not a {width}x{height} RGB image.");
        using var pixels = new MemoryStream();
        using (var z = new ZLibStream(pixels, CompressionLevel.Fastest, leaveOpen: true))
            for (int y = 0; y < height; y++)
            {
                z.WriteByte(0);                                     // filter type None
                z.Write(rgb, y * width * 3, width * 3);
            }
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8;                                              // bit depth
        header[9] = 2;                                              // colour type RGB
        using var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        Chunk(png, "IHDR", header);
        Chunk(png, "IDAT", pixels.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream output, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        output.Write(word);
        var typeBytes = Encoding.ASCII.GetBytes(type);
        output.Write(typeBytes);
        output.Write(data);
        uint crc = Crc(Crc(0xFFFFFFFFu, typeBytes), data);
        BinaryPrimitives.WriteUInt32BigEndian(word, crc ^ 0xFFFFFFFFu);
        output.Write(word);
    }

    private static uint Crc(uint crc, byte[] bytes)
    {
        foreach (byte b in bytes) crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }
}
