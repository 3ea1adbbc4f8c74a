using MessagePack;
using UniPerceiverMoe.Actors.Serialization;
using UniPerceiverMoe.Model;
using static TorchSharp.torch;
using static UniPerceiverMoe.Actors.Cluster.ExpertShardProtocol;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>Tensor payloads without a <c>byte[]</c> in between: the wire layout, who owns the tensor a payload is read
/// into, and what a view reads.</summary>
public sealed class TensorPayloadSpecs
{
    /// <summary>The layout the attribute formatter gave a payload before it had a formatter of its own.</summary>
    [MessagePackObject]
    public sealed record ArrayLayout([property: Key(0)] byte[] Data, [property: Key(1)] string Dtype, [property: Key(2)] long[] Shape);

    private static Tensor Sample(params long[] shape)
    {
        using var g = new Generator(11);
        return randn(shape, generator: g);
    }

    private static bool Same(Tensor a, Tensor b)
    {
        using var equal = a.equal(b);
        using var all = equal.all();
        return all.item<bool>();
    }

    [Fact]
    public void A_payload_should_keep_the_wire_layout_of_data_dtype_and_shape()
    {
        using var x = Sample(3, 5);
        using var view = TensorPayloads.View(x, WireDtype.Float32);
        var array = new ArrayLayout(view.Bytes.ToArray(), "float32", [3, 5]);

        Assert.Equal(MessagePackSerializer.Serialize(array), MessagePackSerializer.Serialize(view));
        using var read = MessagePackSerializer.Deserialize<TensorPayload>(MessagePackSerializer.Serialize(array));
        Assert.Equal(array.Data, read.Bytes.ToArray());
        Assert.Equal(array.Shape, read.Shape);
    }

    [Fact]
    public void A_payload_read_from_the_wire_should_hand_its_tensor_over_once()
    {
        using var x = Sample(4, 8);
        var bytes = UpmoeMessagePackSerializer.Serialize(new RequestAnswered(TensorPayloads.FromTensor(x, WireDtype.Float32)));
        var payload = ((RequestAnswered)UpmoeMessagePackSerializer.Deserialize(bytes, "upmoe.answered")).Output;

        using (var back = TensorPayloads.ToTensor(payload))
            Assert.True(Same(back, x));
        Assert.Equal(4 * 8 * 4, payload.ByteCount);
        Assert.Throws<InvalidOperationException>(() => TensorPayloads.ToTensor(payload));
        payload.Dispose();
    }

    [Fact]
    public void A_view_should_read_its_tensor_when_written_and_a_copy_should_not()
    {
        using var x = Sample(2, 6);
        using var before = x.clone();
        var view = TensorPayloads.View(x, WireDtype.Float32);
        var copy = TensorPayloads.Copy(view);
        x.PlusInPlace(1);
        using var expected = before.clone();
        expected.PlusInPlace(1);

        using (var viewed = TensorPayloads.ToTensor(MessagePackSerializer.Deserialize<TensorPayload>(MessagePackSerializer.Serialize(view))))
            Assert.True(Same(viewed, x));
        using (var copied = TensorPayloads.ToTensor(copy))
            Assert.True(Same(copied, before));
        // The view's handle is its own: releasing it leaves the caller's tensor whole.
        view.Dispose();
        Assert.Throws<ObjectDisposedException>(() => view.Bytes.Length);
        Assert.True(Same(x, expected));
    }

    [Theory]
    [InlineData(WireDtype.Float16)]
    [InlineData(WireDtype.BFloat16)]
    public void A_half_precision_view_should_hold_its_own_converted_bytes(WireDtype dtype)
    {
        using var x = Sample(3, 4);
        using var view = TensorPayloads.View(x, dtype);
        Assert.Equal(x.NumberOfElements * 2, view.ByteCount);
        using var expected = TensorPayloads.FromTensor(x, dtype);
        Assert.Equal(expected.Bytes.ToArray(), view.Bytes.ToArray());
    }
}
