using UniPerceiverMoe.Model.Routing.Requests;
using System.Buffers;
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
    private static ApplyLinearRequest Request(int rows = 3, int columns = 4)
    {
        using var x = TorchScalar.Arange(rows * columns, CPU).to_type(ScalarType.Float32).reshape(rows, columns);
        return new ApplyLinearRequest("L0E1", 0, 2, new WireRoute([1, 3], [0.75f, 0.25f]), TensorPayloads.FromTensor(x, WireDtype.Float32));
    }

    private static byte[] Frames(params (uint Id, IUpmoeWireMessage Message)[] messages)
    {
        var writer = new ArrayBufferWriter<byte>();
        foreach (var (id, message) in messages) DataPlaneFrames.Encode(writer, id, message);
        return writer.WrittenSpan.ToArray();
    }

    [Fact]
    public void Frames_should_round_trip_with_their_ids_and_a_clean_close_between_frames_should_read_as_null()
    {
        var request = Request();
        var bytes = Frames((7, request), (uint.MaxValue, new RequestAnswered(request.Input, "127.0.0.1:4060")));
        // One byte per read: a frame that arrives in pieces reads the same.
        using var reader = new DataPlaneFrameReader(new TrickleStream(bytes), 1 << 20);
        var read = Assert.IsType<ApplyLinearRequest>(reader.Read(out uint first));
        Assert.Equal(7u, first);
        Assert.Equal((request.GroupId, request.Site), (read.GroupId, read.Site));
        Assert.Equal(request.Route.Experts, read.Route.Experts);
        Assert.Equal(request.Route.Weights, read.Route.Weights);
        Assert.Equal(request.Input.Bytes.ToArray(), read.Input.Bytes.ToArray());
        var reply = Assert.IsType<RequestAnswered>(reader.Read(out uint second));
        Assert.Equal(uint.MaxValue, second);
        Assert.Equal("127.0.0.1:4060", reply.DataEndpoint);
        Assert.Null(reader.Read(out _));
    }

    [Fact]
    public void A_frame_larger_than_the_readers_buffer_should_read_the_same_bytes_in_any_pieces_and_leave_the_next_frame_intact()
    {
        // [785, 768] fp32 (2.4 MB, MoE-B's largest hop) between two small frames, served in pieces of a prime size so
        // that piece edges fall anywhere in the chunks the reader borrows.
        var small = Request();
        var large = Request(785, 768);
        var bytes = Frames((1, small), (2, large), (3, small));
        using var reader = new DataPlaneFrameReader(new PiecesStream(bytes, 7919), 16 << 20);
        Assert.Equal(small.Input.Bytes.ToArray(), Assert.IsType<ApplyLinearRequest>(reader.Read(out uint first)).Input.Bytes.ToArray());
        var read = Assert.IsType<ApplyLinearRequest>(reader.Read(out uint second));
        Assert.Equal(large.Input.Shape, read.Input.Shape);
        Assert.True(large.Input.Bytes.SequenceEqual(read.Input.Bytes), "the large tensor's bytes differ after a chunked read");
        Assert.Equal(small.Input.Bytes.ToArray(), Assert.IsType<ApplyLinearRequest>(reader.Read(out uint third)).Input.Bytes.ToArray());
        Assert.Equal((1u, 2u, 3u), (first, second, third));
        Assert.Null(reader.Read(out _));

        // The same frame cut off inside its body: a clear end of stream, not a partial tensor.
        var cut = Frames((2, large))[..^1000];
        var e = Assert.ThrowsAny<EndOfStreamException>(() => new DataPlaneFrameReader(new PiecesStream(cut, 7919), 16 << 20).Read(out _));
        Assert.Contains("inside a frame", e.Message);
    }

    [Fact]
    public void Bad_magic_oversized_bodies_unknown_manifests_and_truncation_should_be_refused_with_the_reason()
    {
        byte[] frame = Frames((1, Request()));

        var badMagic = (byte[])frame.Clone();
        badMagic[0] = (byte)'X';
        var e1 = Assert.Throws<InvalidDataException>(() => new DataPlaneFrameReader(new MemoryStream(badMagic), 1 << 20).Read(out _));
        Assert.Contains("bad magic", e1.Message);

        var e2 = Assert.Throws<InvalidDataException>(() => new DataPlaneFrameReader(new MemoryStream(frame), 16).Read(out _));
        Assert.Contains("refused (limit 16)", e2.Message);

        var unknown = DataPlaneFrames.Header(1, "System.Type", 4).Concat(new byte[4]).ToArray();
        var e3 = Assert.Throws<InvalidDataException>(() => new DataPlaneFrameReader(new MemoryStream(unknown), 1 << 20).Read(out _));
        Assert.Contains("unknown manifest", e3.Message);

        var garbageBody = DataPlaneFrames.Header(1, "upmoe.apply-linear", 64).Concat(Enumerable.Repeat((byte)0xC1, 64)).ToArray();
        Assert.Throws<SerializationException>(() => new DataPlaneFrameReader(new MemoryStream(garbageBody), 1 << 20).Read(out _));

        Assert.ThrowsAny<EndOfStreamException>(() => new DataPlaneFrameReader(new MemoryStream(frame[..^5]), 1 << 20).Read(out _));
    }

    [Fact]
    public void A_frame_that_claims_a_large_body_should_cost_memory_for_the_bytes_that_arrive_not_for_the_claim()
    {
        // 16 MiB claimed, 100 KiB sent, then the peer stops: the reader's buffer follows what arrived.
        var claim = DataPlaneFrames.Header(1, "upmoe.apply-linear", 16 << 20).Concat(new byte[100 << 10]).ToArray();
        var stream = new CountingStream(claim);
        using var reader = new DataPlaneFrameReader(stream, 16 << 20);
        Assert.ThrowsAny<EndOfStreamException>(() => reader.Read(out _));
        Assert.InRange(stream.LargestReadBuffer, 1, 1 << 20);
        // Everything it was offered to read into, together: the 100 KiB that arrived, not the 16 MiB claimed.
        Assert.InRange(stream.DistinctBufferBytes, 1, 512 << 10);
    }

    /// <summary>Serves its bytes at most <paramref name="piece"/> at a time.</summary>
    private sealed class PiecesStream(byte[] bytes, int piece) : MemoryStream(bytes)
    {
        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, piece));

        public override int Read(Span<byte> buffer) => base.Read(buffer[..Math.Min(buffer.Length, piece)]);
    }

    /// <summary>Serves its bytes one at a time.</summary>
    private sealed class TrickleStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, 1));

        public override int Read(Span<byte> buffer) => base.Read(buffer[..Math.Min(buffer.Length, 1)]);
    }

    /// <summary>Records the largest buffer a reader offered it.</summary>
    private sealed class CountingStream(byte[] bytes) : MemoryStream(bytes)
    {
        private readonly HashSet<byte[]> offered = new(ReferenceEqualityComparer.Instance);

        public int LargestReadBuffer { get; private set; }

        /// <summary>The lengths of the distinct arrays offered to read into, added up.</summary>
        public long DistinctBufferBytes => offered.Sum(b => (long)b.Length);

        public override int Read(byte[] buffer, int offset, int count)
        {
            LargestReadBuffer = Math.Max(LargestReadBuffer, buffer.Length);
            offered.Add(buffer);
            return base.Read(buffer, offset, count);
        }
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
