// Decodes PNG / JPEG files to interleaved RGB bytes with StbImageSharp (the reference opens images with PIL and
// calls .convert("RGB"): alpha dropped, grey replicated, EXIF orientation not applied).
using StbImageSharp;

namespace UniPerceiverMoe.Model.Preprocessing;

public static class ImageDecoder
{
    private static ReadOnlySpan<byte> PngSignature => [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Reads and decodes the image file at <paramref name="path"/>. Returns HWC RGB bytes (h * w * 3).
    /// Throws <see cref="FileNotFoundException"/> for a missing file and <see cref="InvalidDataException"/> naming
    /// the file and the reason for an empty, unrecognised, truncated or undecodable one.</summary>
    public static (byte[] Hwc, int Height, int Width) DecodeRgb(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"image '{path}' does not exist", path);
        return DecodeRgb(File.ReadAllBytes(path), $"'{path}'");
    }

    /// <summary>Decodes encoded image bytes; <paramref name="name"/> names the input in error messages.</summary>
    public static (byte[] Hwc, int Height, int Width) DecodeRgb(byte[] encoded, string name = "image bytes")
    {
        ArgumentNullException.ThrowIfNull(encoded);
        if (encoded.Length == 0)
            throw new InvalidDataException($"{name}: the file is empty (0 bytes), not an image");

        var format = Sniff(encoded);
        if (format is null)
            throw new InvalidDataException(
                $"{name}: not a PNG or JPEG image (first bytes {Convert.ToHexString(encoded.AsSpan(0, Math.Min(8, encoded.Length)))})");
        string? truncation = format switch
        {
            "PNG" => CheckPngComplete(encoded),
            "JPEG" => CheckJpegComplete(encoded),
            _ => null,
        };
        if (truncation is not null)
            throw new InvalidDataException($"{name}: truncated or corrupt {format} ({truncation})");

        ImageResult result;
        try
        {
            result = ImageResult.FromMemory(encoded, ColorComponents.RedGreenBlue);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"{name}: the {format} decoder failed: {e.Message}", e);
        }
        if (result.Width <= 0 || result.Height <= 0 || result.Data.Length != result.Width * result.Height * 3)
            throw new InvalidDataException($"{name}: the {format} decoder returned an invalid {result.Width}x{result.Height} image");
        return (result.Data, result.Height, result.Width);
    }

    /// <summary>Format from the magic bytes: "PNG", "JPEG", "BMP", "GIF", or null.</summary>
    private static string? Sniff(ReadOnlySpan<byte> b)
    {
        if (b.StartsWith(PngSignature)) return "PNG";
        if (b.Length >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return "JPEG";
        if (b.Length >= 2 && b[0] == (byte)'B' && b[1] == (byte)'M') return "BMP";
        if (b.Length >= 6 && (b[..6].SequenceEqual("GIF87a"u8) || b[..6].SequenceEqual("GIF89a"u8))) return "GIF";
        return null;
    }

    /// <summary>Walks the PNG chunk list (4-byte big-endian length, type, data, CRC) up to IEND. Returns why the
    /// file is incomplete, or null when IEND is reached inside the file.</summary>
    private static string? CheckPngComplete(ReadOnlySpan<byte> b)
    {
        long pos = PngSignature.Length;
        bool sawIdat = false;
        while (true)
        {
            if (pos + 8 > b.Length) return $"chunk list ends at byte {b.Length} before IEND";
            uint length = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(b.Slice((int)pos, 4));
            var type = b.Slice((int)pos + 4, 4);
            long next = pos + 12 + length;
            if (next > b.Length)
                return $"chunk '{System.Text.Encoding.ASCII.GetString(type)}' at byte {pos} needs {next} bytes, file has {b.Length}";
            if (type.SequenceEqual("IDAT"u8)) sawIdat = true;
            if (type.SequenceEqual("IEND"u8)) return sawIdat ? null : "no IDAT chunk";
            pos = next;
        }
    }

    /// <summary>Walks the JPEG marker segments and entropy-coded scans up to EOI (FFD9). Returns why the file is
    /// incomplete, or null when EOI is reached. Inside scan data FF is followed by 00 (stuffing) or RSTn.</summary>
    private static string? CheckJpegComplete(ReadOnlySpan<byte> b)
    {
        int pos = 2; // after SOI
        while (true)
        {
            if (pos >= b.Length) return "no end-of-image marker";
            if (b[pos] != 0xFF) return $"expected a marker at byte {pos}";
            while (pos < b.Length && b[pos] == 0xFF) pos++; // fill bytes
            if (pos >= b.Length) return "no end-of-image marker";
            byte marker = b[pos++];
            if (marker == 0xD9) return null;
            if (marker is >= 0xD0 and <= 0xD7 or 0x01) continue; // standalone markers
            if (pos + 2 > b.Length) return $"segment FF{marker:X2} header cut at byte {b.Length}";
            int length = (b[pos] << 8) | b[pos + 1];
            if (length < 2 || pos + length > b.Length)
                return $"segment FF{marker:X2} at byte {pos - 2} needs {pos + length} bytes, file has {b.Length}";
            pos += length;
            if (marker != 0xDA) continue;
            // Entropy-coded data of the scan runs to the next marker that is neither stuffing nor RSTn.
            while (true)
            {
                if (pos + 1 >= b.Length) return "scan data ends without an end-of-image marker";
                if (b[pos] == 0xFF && b[pos + 1] != 0x00 && b[pos + 1] is not (>= 0xD0 and <= 0xD7)) break;
                pos++;
            }
        }
    }
}
