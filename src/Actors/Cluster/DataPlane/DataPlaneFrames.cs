using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.Serialization;
using System.Text;
using UniPerceiverMoe.Actors.Serialization;

namespace UniPerceiverMoe.Actors.Cluster.DataPlane;

/// <summary>
/// One message on a data-plane connection:
/// <c>"UPM2" | id (u32 LE) | manifest length (u8) | body length (u32 LE) | manifest (ASCII) | body</c>, the body being
/// the message as <see cref="UpmoeMessagePackSerializer"/> writes it. A reply carries its request's id, so a
/// connection multiplexes any number of requests. The same closed manifest list, untrusted-data reader and
/// validation as Akka's wire apply. Frames are read by a <see cref="DataPlaneFrameReader"/>.
/// </summary>
public static class DataPlaneFrames
{
    internal static ReadOnlySpan<byte> Magic => "UPM2"u8;
    public const int PrefixBytes = 13;
    internal const int MaxManifestBytes = 64;

    /// <summary>Appends the frame of <paramref name="message"/> to <paramref name="writer"/> (serialized in place).</summary>
    public static void Encode(ArrayBufferWriter<byte> writer, uint id, IUpmoeWireMessage message) =>
        // WrittenMemory is the buffer itself: the header already written can be patched through it.
        Encode(writer, w => System.Runtime.InteropServices.MemoryMarshal.AsMemory(w.WrittenMemory).Span, id, message);

    /// <summary>Appends the frame of <paramref name="message"/> to <paramref name="writer"/> (serialized in place).</summary>
    internal static void Encode(FrameBuffer writer, uint id, IUpmoeWireMessage message) => Encode(writer, w => w.Written, id, message);

    private static void Encode<TWriter>(TWriter writer, Func<TWriter, Span<byte>> written, uint id, IUpmoeWireMessage message)
        where TWriter : IBufferWriter<byte>
    {
        if (!WireTypes.TryGetManifest(message.GetType(), out var manifest))
            throw new SerializationException($"{message.GetType().FullName} is not a registered upmoe wire message.");
        int start = written(writer).Length;
        int headerBytes = PrefixBytes + manifest.Length;
        WriteHeader(writer.GetSpan(headerBytes), id, manifest, 0);
        writer.Advance(headerBytes);
        UpmoeMessagePackSerializer.Serialize(writer, message);
        var frame = written(writer);
        int body = frame.Length - start - headerBytes;
        if ((uint)body > int.MaxValue) throw new InvalidDataException($"data plane: a {body}-byte message is too large for a frame.");
        // The body length is known only now: patch it into the header already written.
        BinaryPrimitives.WriteUInt32LittleEndian(frame.Slice(start + 9), (uint)body);
    }

    /// <summary>The header of a frame whose body has <paramref name="bodyBytes"/> bytes (also used by the raw echo
    /// baseline of <c>upmoe bench hop</c>, so that both carry the same framing).</summary>
    public static byte[] Header(uint id, string manifest, int bodyBytes)
    {
        var header = new byte[PrefixBytes + manifest.Length];
        WriteHeader(header, id, manifest, bodyBytes);
        return header;
    }

    private static void WriteHeader(Span<byte> header, uint id, string manifest, int bodyBytes)
    {
        if (manifest.Length is 0 or > MaxManifestBytes) throw new ArgumentException($"manifest '{manifest}' is not 1..{MaxManifestBytes} characters.");
        Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], id);
        header[8] = (byte)manifest.Length;
        BinaryPrimitives.WriteUInt32LittleEndian(header[9..], (uint)bodyBytes);
        Encoding.ASCII.GetBytes(manifest, header[PrefixBytes..]);
    }
}
