using System.Buffers;

namespace UniPerceiverMoe.Actors.Cluster.DataPlane;

/// <summary>
/// One frame being serialized, in a buffer from <see cref="DataPlaneBuffers.Pool"/>: it grows by borrowing a larger
/// buffer (the written bytes are copied over) and <see cref="Reset"/> gives a buffer larger than
/// <see cref="DataPlaneBuffers.KeptBytes"/> back, so between frames a connection holds at most that much.
/// Not thread-safe.
/// </summary>
internal sealed class FrameBuffer : IBufferWriter<byte>, IDisposable
{
    private const int InitialBytes = 64 * 1024;
    private byte[] buffer = DataPlaneBuffers.Pool.Rent(InitialBytes);

    public int WrittenCount { get; private set; }

    /// <summary>Bytes of the buffer held now.</summary>
    public int Capacity => buffer.Length;

    /// <summary>The bytes written so far; writable, so a header can be patched once the body's length is known.</summary>
    public Span<byte> Written => buffer.AsSpan(0, WrittenCount);

    public void Advance(int count)
    {
        if (count < 0 || WrittenCount + count > buffer.Length) throw new ArgumentOutOfRangeException(nameof(count));
        WrittenCount += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return buffer.AsMemory(WrittenCount);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return buffer.AsSpan(WrittenCount);
    }

    /// <summary>Empties the buffer for the next frame, giving a grown buffer back to the pool.</summary>
    public void Reset()
    {
        WrittenCount = 0;
        if (buffer.Length <= DataPlaneBuffers.KeptBytes) return;
        DataPlaneBuffers.Pool.Return(buffer);
        buffer = DataPlaneBuffers.Pool.Rent(InitialBytes);
    }

    private void Reserve(int sizeHint)
    {
        int needed = WrittenCount + Math.Max(sizeHint, 1);
        if (needed <= buffer.Length) return;
        var larger = DataPlaneBuffers.Pool.Rent(Math.Max(needed, checked(2 * buffer.Length)));
        buffer.AsSpan(0, WrittenCount).CopyTo(larger);
        DataPlaneBuffers.Pool.Return(buffer);
        buffer = larger;
    }

    public void Dispose()
    {
        DataPlaneBuffers.Pool.Return(buffer);
        buffer = [];
        WrittenCount = 0;
    }
}
