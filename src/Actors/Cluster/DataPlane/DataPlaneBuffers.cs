using System.Buffers;

namespace UniPerceiverMoe.Actors.Cluster.DataPlane;

/// <summary>
/// The frame buffers of every data-plane connection of this process. A connection keeps one small buffer of its own
/// for each direction (up to <see cref="KeptBytes"/>); a frame larger than that borrows from <see cref="Pool"/> (a
/// frame being written, one buffer; a frame being read, chunks as its bytes arrive) and gives it back once the frame
/// is written or read, so large buffers are held once per process (at most
/// <see cref="ArraysPerSize"/> of each size), not once per connection. (Per connection, a MoE-B frontend with dozens of
/// connections kept up to 4 MiB each way on every one.) The pool has no per-thread caches: a connection's reader
/// thread does not hold a buffer of its own once it is returned, as it would with <see cref="ArrayPool{T}.Shared"/>.
/// </summary>
internal static class DataPlaneBuffers
{
    /// <summary>Largest buffer a connection keeps between frames.</summary>
    public const int KeptBytes = 256 * 1024;

    /// <summary>Largest buffer the pool keeps (larger frames get a buffer of their own, left to the GC).</summary>
    private const int MaxPooledBytes = 16 << 20;

    private const int ArraysPerSize = 4;

    public static ArrayPool<byte> Pool { get; } = ArrayPool<byte>.Create(MaxPooledBytes, ArraysPerSize);
}
