using UniPerceiverMoe.Actors.Tests.Engine;
using UniPerceiverMoe.Model;
using UniPerceiverMoe.Actors.Serialization;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Tests.Serialization;

/// <summary>Payload encoding and decoding cross between torch memory and the host exactly once each, and a move to
/// the device a tensor is on copies nothing.</summary>
[Collection(nameof(DeviceCopyCollection))]
public sealed class DeviceStagingSpecs(ITestOutputHelper output)
{
    [Fact]
    public void Encoding_and_decoding_a_payload_should_each_cross_once_and_keep_the_values()
    {
        var crossings = new List<(CopyDirection, TorchSharp.DeviceType)>();
        void Record(CopyDirection direction, TorchSharp.DeviceType device)
        {
            lock (crossings) crossings.Add((direction, device));
        }
        using var x = randn(3, 5);
        using var strided = x.t();   // not contiguous: the staging must still copy it row-major
        DeviceStaging.Copied += Record;
        TensorPayload payload;
        Tensor back;
        try
        {
            payload = TensorPayloads.FromTensor(strided, WireDtype.Float32);
            back = TensorPayloads.ToTensor(payload, CPU);
        }
        finally
        {
            DeviceStaging.Copied -= Record;
        }
        using (back)
        {
            TensorAssert.Equal(output, "round trip", strided, back);
            Assert.Equal([5L, 3L], payload.Shape);
        }
        Assert.Equal([(CopyDirection.DeviceToHost, TorchSharp.DeviceType.CPU), (CopyDirection.HostToDevice, TorchSharp.DeviceType.CPU)], crossings);
    }

    [Fact]
    public void A_move_to_the_tensor_s_own_device_should_share_its_storage_and_count_nothing()
    {
        int crossings = 0;
        void Count(CopyDirection direction, TorchSharp.DeviceType device) => Interlocked.Increment(ref crossings);
        using var x = zeros(4);
        DeviceStaging.Copied += Count;
        try
        {
            using var moved = DeviceStaging.Move(x, new Device("cpu"));
            moved.PlusInPlace(1);
            using var first = x[0];
            Assert.Equal(1f, first.item<float>());   // same storage: no copy was made
        }
        finally
        {
            DeviceStaging.Copied -= Count;
        }
        Assert.Equal(0, crossings);
        Assert.True(DeviceStaging.SameDevice(new Device("cuda"), new Device("cuda:0")));
        Assert.False(DeviceStaging.SameDevice(new Device("cuda:0"), new Device("cuda:1")));
        Assert.False(DeviceStaging.SameDevice(new Device("cpu"), new Device("cuda:0")));
    }
}
