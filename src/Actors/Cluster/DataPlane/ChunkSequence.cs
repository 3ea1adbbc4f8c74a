using System.Buffers;

namespace UniPerceiverMoe.Actors.Cluster.DataPlane;

/// <summary>
/// One frame body spread over buffers (the connection's buffer, then borrowed chunks) as a
/// <see cref="ReadOnlySequence{T}"/>, so it is deserialized where it lies. The sequence reads the arrays it is given:
/// it is valid until they go back to the pool.
/// </summary>
internal static class ChunkSequence
{
    /// <summary><paramref name="first"/> followed by the first <c>Length</c> bytes of each chunk, in order.</summary>
    public static ReadOnlySequence<byte> Of(ReadOnlyMemory<byte> first, IReadOnlyList<(byte[] Array, int Length)> chunks)
    {
        var head = new Segment(first, 0);
        var tail = head;
        foreach (var (array, length) in chunks)
            if (length > 0) tail = tail.Append(array.AsMemory(0, length));
        return new ReadOnlySequence<byte>(head, 0, tail, tail.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
