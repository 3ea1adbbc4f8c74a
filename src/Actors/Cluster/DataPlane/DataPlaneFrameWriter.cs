using UniPerceiverMoe.Actors.Serialization;

namespace UniPerceiverMoe.Actors.Cluster.DataPlane;

/// <summary>
/// Writes <see cref="DataPlaneFrames"/> to one connection from one reused buffer (a frame is serialized in place and
/// sent with one write). A buffer grown for a large frame goes back to <see cref="DataPlaneBuffers.Pool"/> once that
/// frame is written. Not thread-safe: the connection writes under its own lock.
/// </summary>
internal sealed class DataPlaneFrameWriter(Stream stream)
{
    private readonly FrameBuffer frame = new();

    public void Write(uint id, IUpmoeWireMessage message)
    {
        try
        {
            DataPlaneFrames.Encode(frame, id, message);
            stream.Write(frame.Written);
        }
        finally
        {
            frame.Reset();
        }
    }
}
