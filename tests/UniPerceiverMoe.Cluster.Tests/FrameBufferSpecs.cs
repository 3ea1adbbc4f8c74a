using UniPerceiverMoe.Actors.Cluster.DataPlane;
using UniPerceiverMoe.Actors.Serialization;
using UniPerceiverMoe.Model;
using UniPerceiverMoe.Model.Routing.Requests;
using UniPerceiverMoe.TestSupport;
using static TorchSharp.torch;
using static UniPerceiverMoe.Actors.Cluster.ExpertShardProtocol;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>A connection's frame buffer grows for a large frame, which still encodes the same bytes as an
/// ArrayBufferWriter, and gives the grown buffer back once reset: between frames it holds at most
/// <see cref="DataPlaneBuffers.KeptBytes"/>.</summary>
public sealed class FrameBufferSpecs
{
    [Fact]
    public void A_buffer_grown_for_a_large_frame_should_be_given_back_on_reset_and_frames_should_encode_as_with_an_array_writer()
    {
        using var x = TorchScalar.Arange(197 * 768, CPU).to_type(ScalarType.Float32).reshape(197, 768);   // ~600 KB
        var message = new ApplyLinearRequest("L0E1", 0, 2, new WireRoute([1, 3], [0.75f, 0.25f]), TensorPayloads.FromTensor(x, WireDtype.Float32));
        var expected = new System.Buffers.ArrayBufferWriter<byte>();
        DataPlaneFrames.Encode(expected, 9, message);

        using var frame = new FrameBuffer();
        DataPlaneFrames.Encode(frame, 9, message);
        Assert.True(frame.Capacity > DataPlaneBuffers.KeptBytes);
        Assert.Equal(expected.WrittenSpan.ToArray(), frame.Written.ToArray());

        frame.Reset();
        Assert.Equal(0, frame.WrittenCount);
        Assert.True(frame.Capacity <= DataPlaneBuffers.KeptBytes, $"{frame.Capacity} bytes held after reset");

        var small = new ApplyLinearRequest("L0E1", 0, 2, new WireRoute([1], [1f]), new TensorPayload(new byte[16], "float32", [4]));
        var expectedSmall = new System.Buffers.ArrayBufferWriter<byte>();
        DataPlaneFrames.Encode(expectedSmall, 10, small);
        DataPlaneFrames.Encode(frame, 10, small);
        Assert.Equal(expectedSmall.WrittenSpan.ToArray(), frame.Written.ToArray());
    }
}
