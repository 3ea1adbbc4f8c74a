using System.Net.Sockets;
using System.Runtime.Serialization;
using System.Text;
using UniPerceiverMoe.Actors.Cluster.DataPlane;
using UniPerceiverMoe.Actors.Serialization;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;
using UniPerceiverMoe.Model;
using static TorchSharp.torch;
using static UniPerceiverMoe.Actors.Cluster.ExpertShardProtocol;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>The data plane's frames.</summary>
public sealed class DataPlaneFrameSpecs
{
    private static ApplyLinear Request()
    {
        using var x = TorchScalar.Arange(12, CPU).to_type(ScalarType.Float32).reshape(3, 4);
        return new ApplyLinear("L0E1", 0, 2, [1, 3], [0.75f, 0.25f], TensorPayloads.FromTensor(x, WireDtype.Float32));
    }

    [Fact]
    public async Task A_frame_should_round_trip_and_a_clean_close_between_frames_should_read_as_null()
    {
        var request = Request();
        using var stream = new MemoryStream();
        await DataPlaneFrames.WriteAsync(stream, request, CancellationToken.None);
        await DataPlaneFrames.WriteAsync(stream, new LinearApplied(request.Input, "127.0.0.1:4060"), CancellationToken.None);
        stream.Position = 0;
        var read = Assert.IsType<ApplyLinear>(await DataPlaneFrames.ReadAsync(stream, 1 << 20, CancellationToken.None));
        Assert.Equal((request.GroupId, request.Site), (read.GroupId, read.Site));
        Assert.Equal(request.Experts, read.Experts);
        Assert.Equal(request.Weights, read.Weights);
        Assert.Equal(request.Input.Data, read.Input.Data);
        var reply = Assert.IsType<LinearApplied>(await DataPlaneFrames.ReadAsync(stream, 1 << 20, CancellationToken.None));
        Assert.Equal("127.0.0.1:4060", reply.DataEndpoint);
        Assert.Null(await DataPlaneFrames.ReadAsync(stream, 1 << 20, CancellationToken.None));
    }

    [Fact]
    public async Task Bad_magic_oversized_bodies_unknown_manifests_and_truncation_should_be_refused_with_the_reason()
    {
        using var good = new MemoryStream();
        await DataPlaneFrames.WriteAsync(good, Request(), CancellationToken.None);
        byte[] frame = good.ToArray();

        var badMagic = (byte[])frame.Clone();
        badMagic[0] = (byte)'X';
        var e1 = await Assert.ThrowsAsync<InvalidDataException>(() => DataPlaneFrames.ReadAsync(new MemoryStream(badMagic), 1 << 20, CancellationToken.None));
        Assert.Contains("bad magic", e1.Message);

        var e2 = await Assert.ThrowsAsync<InvalidDataException>(() => DataPlaneFrames.ReadAsync(new MemoryStream(frame), 16, CancellationToken.None));
        Assert.Contains("refused (limit 16)", e2.Message);

        var unknown = Encoding.ASCII.GetBytes("UPMD").Concat(new byte[] { 11, 0 }).Concat(Encoding.ASCII.GetBytes("System.Type")).Concat(BitConverter.GetBytes(4L))
            .Concat(new byte[4]).ToArray();
        var e3 = await Assert.ThrowsAsync<SerializationException>(() => DataPlaneFrames.ReadAsync(new MemoryStream(unknown), 1 << 20, CancellationToken.None));
        Assert.Contains("unknown manifest", e3.Message);

        await Assert.ThrowsAnyAsync<EndOfStreamException>(() => DataPlaneFrames.ReadAsync(new MemoryStream(frame[..^5]), 1 << 20, CancellationToken.None));
    }

}

/// <summary>Hostile bytes on a live expert node's data port.</summary>
[Trait("Category", "Golden")]
public sealed class DataPlaneHostileSpecs(InProcessClusterFixture cluster, ITestOutputHelper output) : IClassFixture<InProcessClusterFixture>
{
    [Fact]
    public async Task Garbage_on_a_data_port_should_close_only_that_connection_with_a_log_line_and_the_node_should_keep_serving()
    {
        var target = cluster.Experts[0];
        var log = HostileWire.CollectLogs(target.System);
        string endpoint = target.DataEndpoint ?? throw new InvalidOperationException("the data plane is on by default");
        int colon = endpoint.LastIndexOf(':');
        using (var intruder = new TcpClient())
        {
            await intruder.ConnectAsync(endpoint[..colon], int.Parse(endpoint[(colon + 1)..]));
            var stream = intruder.GetStream();
            var garbage = new byte[512];
            new Random(5).NextBytes(garbage);
            await stream.WriteAsync(garbage);
            var buffer = new byte[16];
            int read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(0, read);                                              // closed by the node, no reply
        }
        await TestCluster.AwaitAsync(() => target.Counters.DataPlaneRejected.Value == 1, TimeSpan.FromSeconds(10), "the rejected connection counted");
        await TestCluster.AwaitAsync(() => log.Any(e => e.Message?.ToString()?.Contains("data plane") == true), TimeSpan.FromSeconds(10), "a log line");
        foreach (var e in log) output.WriteLine($"{e.Message}");

        using var feature = await cluster.Frontend.Engine.EmbedVisualAsync(GoldenFixture.Input("image.in1k_224"), EmbedTask.ImageClassification);
        using var again = await cluster.Frontend.Engine.EmbedVisualAsync(GoldenFixture.Input("image.in1k_224"), EmbedTask.ImageClassification);
        TensorAssert.Close(output, "feat.image_cls after garbage on a data port", GoldenFixture.Output("feat.image_cls"), again, Tolerances.Features);
        Assert.True(target.Counters.DataPlaneRequests.Value > 0, "the node should still take data-plane requests");
    }
}
