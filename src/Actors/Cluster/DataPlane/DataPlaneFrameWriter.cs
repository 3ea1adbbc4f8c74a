using System.Buffers;
using UniPerceiverMoe.Actors.Serialization;

namespace UniPerceiverMoe.Actors.Cluster.DataPlane;

/// <summary>
/// Writes <see cref="DataPlaneFrames"/> to one connection from one reused buffer (a frame is serialized in place and
/// sent with one write). Not thread-safe: the connection writes under its own lock.
/// </summary>
internal sealed class DataPlaneFrameWriter(Stream stream)
{
    private const int InitialBuffer = 64 * 1024;
    /// <summary>A buffer grown for a large frame is let go once that frame is written.</summary>
    private const int KeptBuffer = 4 << 20;
    private ArrayBufferWriter<byte> frame = new(InitialBuffer);

    public void Write(uint id, IUpmoeWireMessage message)
    {
        frame.ResetWrittenCount();
        DataPlaneFrames.Encode(frame, id, message);
        stream.Write(frame.WrittenSpan);
        if (frame.Capacity > KeptBuffer) frame = new(InitialBuffer);
    }
}
