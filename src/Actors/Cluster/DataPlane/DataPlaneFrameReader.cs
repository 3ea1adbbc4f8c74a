using System.Buffers.Binary;
using System.Text;
using UniPerceiverMoe.Actors.Serialization;

namespace UniPerceiverMoe.Actors.Cluster.DataPlane;

/// <summary>
/// Reads <see cref="DataPlaneFrames"/> from one connection with as few system calls as the bytes allow: each read
/// takes whatever has arrived into one pooled buffer, so a whole frame (and the start of the next) usually costs a
/// single call. A frame is judged before it costs memory: its manifest must be known and its body within the limit
/// before the buffer grows for it, and the buffer grows with the bytes that actually arrive (a peer that claims
/// 16 MiB and sends 10 bytes holds 64 KiB). Not thread-safe: one reader per connection.
/// </summary>
internal sealed class DataPlaneFrameReader(Stream stream, long maxBodyBytes) : IDisposable
{
    private const int InitialBuffer = 64 * 1024;
    private byte[] buffer = DataPlaneBuffers.Pool.Rent(InitialBuffer);
    private int start, end;   // unread bytes are buffer[start..end)

    /// <summary>
    /// The next frame's message, or null when the peer closed the connection between frames. <paramref name="frameStarted"/>
    /// runs once the first byte of a frame is there (a server switches from its idle timeout to its read timeout).
    /// Blocking; the stream's ReadTimeout applies to every wait.
    /// </summary>
    /// <exception cref="InvalidDataException">Not a data-plane frame, an unknown manifest, or a body over the limit.</exception>
    /// <exception cref="System.Runtime.Serialization.SerializationException">A malformed body (as on Akka's wire).</exception>
    /// <exception cref="EndOfStreamException">The connection closed inside a frame.</exception>
    public IUpmoeWireMessage? Read(out uint id, Action? frameStarted = null)
    {
        id = 0;
        if (!Ensure(1, endOk: true)) return null;
        frameStarted?.Invoke();
        Ensure(DataPlaneFrames.PrefixBytes, endOk: false);
        var prefix = buffer.AsSpan(start, DataPlaneFrames.PrefixBytes);
        if (!prefix[..4].SequenceEqual(DataPlaneFrames.Magic)) throw new InvalidDataException("data plane: not a data-plane frame (bad magic).");
        id = BinaryPrimitives.ReadUInt32LittleEndian(prefix[4..]);
        int manifestBytes = prefix[8];
        uint bodyBytes = BinaryPrimitives.ReadUInt32LittleEndian(prefix[9..]);
        if (manifestBytes is 0 or > DataPlaneFrames.MaxManifestBytes) throw new InvalidDataException($"data plane: manifest of {manifestBytes} bytes refused.");
        Ensure(DataPlaneFrames.PrefixBytes + manifestBytes, endOk: false);
        string manifest = Encoding.ASCII.GetString(buffer, start + DataPlaneFrames.PrefixBytes, manifestBytes);
        if (!WireTypes.TryGetType(manifest, out _))
            throw new InvalidDataException($"data plane: unknown manifest '{new string(manifest.Select(c => char.IsControl(c) ? '?' : c).ToArray())}' refused.");
        if (bodyBytes == 0 || bodyBytes > maxBodyBytes)
            throw new InvalidDataException($"data plane: '{manifest}' body of {bodyBytes} bytes refused (limit {maxBodyBytes}).");
        int headerBytes = DataPlaneFrames.PrefixBytes + manifestBytes;
        Ensure(headerBytes + (int)bodyBytes, endOk: false);
        var message = UpmoeMessagePackSerializer.Deserialize(buffer.AsMemory(start + headerBytes, (int)bodyBytes), manifest);
        start += headerBytes + (int)bodyBytes;
        if (start == end && buffer.Length > DataPlaneBuffers.KeptBytes)   // a buffer grown for a large frame goes back to the process's pool
        {
            DataPlaneBuffers.Pool.Return(buffer);
            buffer = DataPlaneBuffers.Pool.Rent(InitialBuffer);
            start = end = 0;
        }
        return message;
    }

    /// <summary>Reads until <paramref name="count"/> unread bytes are buffered; false when the stream ended before any and <paramref name="endOk"/>.</summary>
    private bool Ensure(int count, bool endOk)
    {
        while (end - start < count)
        {
            if (end == buffer.Length) MakeRoom(count);
            int n = stream.Read(buffer, end, buffer.Length - end);
            if (n == 0)
            {
                if (endOk && end == start) return false;
                throw new EndOfStreamException($"data plane: connection closed inside a frame ({end - start} of {count} bytes).");
            }
            end += n;
        }
        return true;
    }

    /// <summary>Called when the buffer is full and <paramref name="count"/> unread bytes are needed: moves the unread
    /// bytes to the front, into a buffer twice as large if they fill it (never larger than the frame needs), so memory
    /// follows the bytes that arrive, not the length a peer claims.</summary>
    private void MakeRoom(int count)
    {
        int unread = end - start;
        var target = unread < buffer.Length ? buffer : DataPlaneBuffers.Pool.Rent(Math.Min(count, 2 * buffer.Length));
        Buffer.BlockCopy(buffer, start, target, 0, unread);
        if (!ReferenceEquals(target, buffer)) DataPlaneBuffers.Pool.Return(buffer);
        buffer = target;
        start = 0;
        end = unread;
    }

    public void Dispose()
    {
        DataPlaneBuffers.Pool.Return(buffer);
        buffer = [];
    }
}
