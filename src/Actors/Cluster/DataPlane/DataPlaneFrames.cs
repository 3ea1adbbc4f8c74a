using System.Buffers.Binary;
using System.Runtime.Serialization;
using System.Text;
using UniPerceiverMoe.Actors.Serialization;

namespace UniPerceiverMoe.Actors.Cluster.DataPlane;

/// <summary>
/// One message on a data-plane connection: <c>"UPMD"</c>, manifest length (u16 LE), manifest (UTF-8), body length
/// (i64 LE), body (the message as <see cref="UpmoeMessagePackSerializer"/> writes it). The same closed manifest list,
/// untrusted-data reader and validation as Akka's wire apply; a connection carries one request and its reply at a time.
/// </summary>
public static class DataPlaneFrames
{
    private static ReadOnlySpan<byte> Magic => "UPMD"u8;
    private const int MaxManifestBytes = 128;

    public static async Task WriteAsync(Stream stream, IUpmoeWireMessage message, CancellationToken cancellation)
    {
        if (!WireTypes.TryGetManifest(message.GetType(), out var manifest))
            throw new SerializationException($"{message.GetType().FullName} is not a registered upmoe wire message.");
        var body = UpmoeMessagePackSerializer.Serialize(message);
        int manifestBytes = Encoding.UTF8.GetByteCount(manifest);
        var header = new byte[4 + 2 + manifestBytes + 8];
        Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(4), (ushort)manifestBytes);
        Encoding.UTF8.GetBytes(manifest, header.AsSpan(6));
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(6 + manifestBytes), body.LongLength);
        await stream.WriteAsync(header, cancellation).ConfigureAwait(false);
        await stream.WriteAsync(body, cancellation).ConfigureAwait(false);
        await stream.FlushAsync(cancellation).ConfigureAwait(false);
    }

    /// <summary>The next message, or null when the peer closed the connection between messages.</summary>
    /// <exception cref="InvalidDataException">Not a data-plane frame, or a body over <paramref name="maxBodyBytes"/>.</exception>
    /// <exception cref="SerializationException">An unknown manifest or a malformed body (as on Akka's wire).</exception>
    public static async Task<IUpmoeWireMessage?> ReadAsync(Stream stream, long maxBodyBytes, CancellationToken cancellation)
    {
        var prefix = new byte[6];
        int first = await stream.ReadAtLeastAsync(prefix, prefix.Length, throwOnEndOfStream: false, cancellation).ConfigureAwait(false);
        if (first == 0) return null;
        if (first < prefix.Length) throw new EndOfStreamException("data plane: connection closed inside a frame header.");
        if (!prefix.AsSpan(0, 4).SequenceEqual(Magic)) throw new InvalidDataException("data plane: not a data-plane frame (bad magic).");
        int manifestBytes = BinaryPrimitives.ReadUInt16LittleEndian(prefix.AsSpan(4));
        if (manifestBytes is 0 or > MaxManifestBytes) throw new InvalidDataException($"data plane: manifest of {manifestBytes} bytes refused.");
        var rest = new byte[manifestBytes + 8];
        await stream.ReadExactlyAsync(rest, cancellation).ConfigureAwait(false);
        string manifest = Encoding.UTF8.GetString(rest, 0, manifestBytes);
        long bodyBytes = BinaryPrimitives.ReadInt64LittleEndian(rest.AsSpan(manifestBytes));
        if (bodyBytes <= 0 || bodyBytes > maxBodyBytes)
            throw new InvalidDataException($"data plane: '{manifest}' body of {bodyBytes} bytes refused (limit {maxBodyBytes}).");
        var body = new byte[bodyBytes];
        await stream.ReadExactlyAsync(body, cancellation).ConfigureAwait(false);
        return UpmoeMessagePackSerializer.Deserialize(body, manifest);
    }
}
