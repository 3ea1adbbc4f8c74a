using System.Buffers.Binary;
using System.Text;
using UniPerceiverMoe.Actors.Serialization;

namespace UniPerceiverMoe.Actors.Cluster.DataPlane;

/// <summary>
/// Reads <see cref="DataPlaneFrames"/> from one connection with as few system calls as the bytes allow: each read
/// takes whatever has arrived into the connection's pooled buffer, so a whole frame (and the start of the next)
/// usually costs a single call. A frame is judged before it costs memory: its manifest must be known and its body
/// within the limit before anything is borrowed for it. A frame larger than the buffer is read in chunks borrowed as
/// its bytes arrive and deserialized from them where they lie (<see cref="ReadChunked"/>): memory follows the bytes
/// that arrive, not the length a peer claims, and no byte is copied between buffers on the way.
/// Not thread-safe: one reader per connection.
/// </summary>
internal sealed class DataPlaneFrameReader(Stream stream, long maxBodyBytes) : IDisposable
{
    private const int InitialBuffer = 64 * 1024;
    /// <summary>Largest chunk <see cref="ReadChunked"/> borrows. The pool keeps four arrays of each size up to 16 MiB, so
    /// a body at the 16 MiB frame limit (64 KiB … 2 MiB, then three 4 MiB chunks) still reads from pooled arrays.</summary>
    private const int MaxChunk = 4 << 20;
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
        if (headerBytes + bodyBytes > buffer.Length) return ReadChunked(headerBytes, (int)bodyBytes, manifest);
        Ensure(headerBytes + (int)bodyBytes, endOk: false);
        var message = UpmoeMessagePackSerializer.Deserialize(buffer.AsMemory(start + headerBytes, (int)bodyBytes), manifest);
        start += headerBytes + (int)bodyBytes;
        return message;
    }

    /// <summary>
    /// A frame whose header is buffered and whose body does not fit the buffer: the body's bytes already buffered, then
    /// chunks borrowed from <see cref="DataPlaneBuffers.Pool"/> one at a time as the rest arrives, each no larger than
    /// the body received so far (at least <see cref="InitialBuffer"/>, at most <see cref="MaxChunk"/>), read only up to
    /// the frame's end. The message is deserialized from that sequence of chunks (it copies what it keeps), and the
    /// chunks go back to the pool. Before: the buffer doubled as bytes arrived, copying them at every step, about the
    /// frame's size again for a large tensor.
    /// </summary>
    private IUpmoeWireMessage ReadChunked(int headerBytes, int bodyBytes, string manifest)
    {
        int bodyStart = start + headerBytes, buffered = end - bodyStart;   // < bodyBytes: the frame is larger than the buffer
        var chunks = new List<(byte[] Array, int Length)>();
        try
        {
            for (int received = buffered; received < bodyBytes;)
            {
                int want = Math.Min(bodyBytes - received, Math.Clamp(received, InitialBuffer, MaxChunk));
                var chunk = DataPlaneBuffers.Pool.Rent(want);
                chunks.Add((chunk, 0));
                int filled = 0;
                while (filled < want)
                {
                    int n = stream.Read(chunk, filled, want - filled);
                    if (n == 0)
                        throw new EndOfStreamException($"data plane: connection closed inside a frame ({received + filled} of {bodyBytes} body bytes).");
                    filled += n;
                }
                chunks[^1] = (chunk, filled);
                received += filled;
            }
            var body = ChunkSequence.Of(buffer.AsMemory(bodyStart, buffered), chunks);
            return UpmoeMessagePackSerializer.Deserialize(body, manifest);
        }
        finally
        {
            foreach (var (chunk, _) in chunks) DataPlaneBuffers.Pool.Return(chunk);
            start = end = 0;   // every buffered byte belonged to this frame
        }
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

    /// <summary>Called when the buffer is full and <paramref name="count"/> (at most the buffer's length: larger
    /// frames are read by <see cref="ReadChunked"/>) unread bytes are needed: moves the unread bytes to the front.</summary>
    private void MakeRoom(int count)
    {
        if (count > buffer.Length) throw new InvalidOperationException($"data plane: {count} bytes asked of a {buffer.Length}-byte buffer.");
        int unread = end - start;
        Buffer.BlockCopy(buffer, start, buffer, 0, unread);
        start = 0;
        end = unread;
    }

    public void Dispose()
    {
        DataPlaneBuffers.Pool.Return(buffer);
        buffer = [];
    }
}
