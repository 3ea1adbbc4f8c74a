using UniPerceiverMoe.Model.Routing.Requests;
using System.Runtime.Serialization;
using Akka.Actor;
using MessagePack;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Actors.Serialization;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;
using static TorchSharp.torch;
using static UniPerceiverMoe.Actors.Cluster.ExpertShardProtocol;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>Every wire message through the serializer that reference.conf binds; refusals of everything else.</summary>
public sealed class WireProtocolSpecs(ITestOutputHelper output) : IDisposable
{
    private readonly ActorSystem system = ActorSystem.Create("wire", UpmoeConfig.Reference);

    public void Dispose() => system.Terminate().Wait(TimeSpan.FromSeconds(10));

    private T RoundTrip<T>(T message) where T : notnull
    {
        var serializer = system.Serialization.FindSerializerFor(message);
        Assert.IsType<UpmoeMessagePackSerializer>(serializer);
        Assert.Equal(4170, serializer.Identifier);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
        var bytes = serializer.ToBinary(message);
        return Assert.IsType<T>(system.Serialization.Deserialize(bytes, serializer.Identifier, manifest));
    }

    private static Tensor Sample(params long[] shape)
    {
        using var g = new TorchSharp.torch.Generator(7);
        return randn(shape, generator: g);
    }

    [Fact]
    public void A_fused_FFN_request_should_round_trip_and_a_missing_second_linear_should_be_refused()
    {
        using var x = Sample(3, 64);
        var request = new FfnRequest(2, new Route([0, 4], [0.6f, 0.4f]), new Route([1, 4], [0.5f, 0.5f]));
        var sent = (ApplyFfnRequest)ComputeRequests.From("L2", request, TensorPayloads.FromTensor(x, WireDtype.Float32));
        var got = RoundTrip(sent);
        Assert.Equal(request, got.ToRequest(CPU));
        var half = MessagePackSerializer.Serialize(sent with { Linear2 = null! });
        var e = Assert.Throws<System.Runtime.Serialization.SerializationException>(() => UpmoeMessagePackSerializer.Deserialize(half, "upmoe.apply-ffn"));
        Assert.Contains("ApplyFfnRequest.Linear2 is missing", e.Message);
    }

    [Fact]
    public void A_layer_tail_request_should_round_trip_its_routes_and_constants_and_a_malformed_one_should_be_refused()
    {
        using var x = Sample(3, 2 * 16);
        using var constants = Sample(4, 16);
        var request = new LayerTailRequest(2, new Route([0, 4], [0.6f, 0.4f]), new Route([1, 4], [0.5f, 0.5f]), new Route([2, 4], [0.3f, 0.7f]),
            new Model.Routing.LayerTail(constants, 1e-6));
        var sent = (ApplyLayerTailRequest)ComputeRequests.From("L2", request, TensorPayloads.FromTensor(x, WireDtype.Float32));
        var got = (LayerTailRequest)RoundTrip(sent).ToRequest(CPU);
        using var back = got.Tail.Params;
        Assert.Equal((request.Layer, request.Dense, request.Linear1, request.Linear2, 1e-6), (got.Layer, got.Dense, got.Linear1, got.Linear2, got.Tail.Eps));
        TensorAssert.Close(output, "tail constants", constants, back, 0);

        string Refusal(ApplyLayerTailRequest bad) => Assert.Throws<System.Runtime.Serialization.SerializationException>(
            () => UpmoeMessagePackSerializer.Deserialize(MessagePackSerializer.Serialize(bad), "upmoe.apply-tail")).Message;
        Assert.Contains("constants must be [4, D]", Refusal(sent with { Input = TensorPayloads.FromTensor(Sample(3, 16), WireDtype.Float32) }));
        Assert.Contains("Constants is missing", Refusal(sent with { Constants = null! }));
        Assert.Contains("eps", Refusal(sent with { Eps = 0 }));
    }

    [Fact]
    public void A_whole_layer_request_should_round_trip_its_segments_and_constants_and_a_malformed_one_should_be_refused()
    {
        using var x = Sample(2 * 5, 16);                                                       // two sequences of 5 tokens
        using var constants = Sample(6, 16);
        Route R(int a, int b) => new([a, b], [0.25f, 0.75f]);
        var segments = new[] { new SegmentRoutes(0, 1, R(0, 1), R(1, 2), R(2, 3), R(3, 4)), new SegmentRoutes(1, 4, R(4, 5), R(5, 6), R(6, 7), R(7, 0)) };
        var request = new WholeLayerRequest(0, segments, new Model.Routing.WholeLayer(constants, 1e-6, Heads: 4), SequenceLength: 5);
        var sent = (ApplyWholeLayerRequest)ComputeRequests.From("L0", request, TensorPayloads.FromTensor(x, WireDtype.Float32));
        var got = (WholeLayerRequest)RoundTrip(sent).ToRequest(CPU);
        using var back = got.Body.Params;
        Assert.Equal(segments, got.Segments);
        Assert.Equal((4, 5, 1e-6), (got.Body.Heads, got.SequenceLength, got.Body.Eps));
        TensorAssert.Close(output, "layer constants", constants, back, 0);

        string Refusal(ApplyWholeLayerRequest bad) => Assert.Throws<System.Runtime.Serialization.SerializationException>(
            () => UpmoeMessagePackSerializer.Deserialize(MessagePackSerializer.Serialize(bad), "upmoe.apply-layer")).Message;
        Assert.Contains("whole sequences", Refusal(sent with { Input = TensorPayloads.FromTensor(Sample(7, 16), WireDtype.Float32) }));
        Assert.Contains("tile the sequence", Refusal(sent with { Starts = [0, 2] }));
        Assert.Contains("heads dividing D", Refusal(sent with { Heads = 3 }));
        Assert.Contains("four sub-routes per segment", Refusal(sent with { Routes = sent.Routes[..4] }));
    }

    [Fact]
    public void ApplyLinearRequest_should_round_trip_with_a_bit_exact_float32_input()
    {
        using var x = Sample(5, 64);
        var sent = new ApplyLinearRequest("L0E3", 2, (int)Model.Routing.MoeLinearKind.Linear2, new WireRoute([3, 6], [0.75f, 0.25f]), TensorPayloads.FromTensor(x, WireDtype.Float32));
        var got = RoundTrip(sent);
        Assert.Equal((sent.GroupId, sent.Layer, sent.Kind), (got.GroupId, got.Layer, got.Kind));
        Assert.Equal(sent.Route.Experts, got.Route.Experts);
        Assert.Equal(sent.Route.Weights, got.Route.Weights);
        Assert.Equal(sent.ToRequest(CPU), got.ToRequest(CPU));
        using var back = TensorPayloads.ToTensor(got.Input);
        TensorAssert.Close(output, "input", x, back, 0);
    }

    [Fact]
    public void Replies_and_stats_should_round_trip()
    {
        using var y = Sample(3, 192);
        var applied = RoundTrip(new RequestAnswered(TensorPayloads.FromTensor(y, WireDtype.Float32)));
        using (var back = TensorPayloads.ToTensor(applied.Output)) TensorAssert.Close(output, "output", y, back, 0);
        Assert.Equal(new GroupFailed("L2", "boom"), RoundTrip(new GroupFailed("L2", "boom")));
        Assert.Equal(new GetGroupStats("g0"), RoundTrip(new GetGroupStats("g0")));
        var stats = new GroupStats("g0", "akka.tcp://upmoe@127.0.0.1:4053", 12, 3400, 5, 0.25, "cuda:1");
        Assert.Equal(stats, RoundTrip(stats));
    }

    [Theory]
    [InlineData(WireDtype.Float16, 1e-3)]
    [InlineData(WireDtype.BFloat16, 8e-3)]
    public void Half_precision_payloads_should_halve_the_bytes_and_come_back_as_float32(WireDtype dtype, double relative)
    {
        using var x = Sample(4, 256);
        var payload = RoundTrip(new RequestAnswered(TensorPayloads.FromTensor(x, dtype))).Output;
        Assert.Equal(x.NumberOfElements * 2, payload.ByteCount);
        using var back = TensorPayloads.ToTensor(payload);
        Assert.Equal(ScalarType.Float32, back.dtype);
        double scale = TensorAssert.MaxAbs(x);
        TensorAssert.Close(output, TensorPayloads.Name(dtype), x, back, relative * scale);
    }

    [Fact]
    public void Every_wire_message_type_should_be_registered_with_the_serializer()
    {
        var declared = typeof(IUpmoeWireMessage).Assembly.GetTypes()
            .Where(t => typeof(IUpmoeWireMessage).IsAssignableFrom(t) && !t.IsInterface && !t.IsAbstract).ToHashSet();
        Assert.Equal(declared.OrderBy(t => t.Name), WireTypes.Types.OrderBy(t => t.Name));
    }

    [Fact]
    public void An_unknown_manifest_should_be_refused()
    {
        var bytes = UpmoeMessagePackSerializer.Serialize(new GetGroupStats("g0"));
        var e = Assert.Throws<SerializationException>(() => UpmoeMessagePackSerializer.Deserialize(bytes, "System.Diagnostics.Process"));
        output.WriteLine(e.Message);
        Assert.Contains("unknown manifest", e.Message);
    }

    [Fact]
    public void Garbage_truncated_and_inconsistent_bytes_should_be_refused()
    {
        using var x = Sample(2, 8);
        var valid = UpmoeMessagePackSerializer.Serialize(new ApplyLinearRequest("g0", 0, 0, new WireRoute([1], [1f]), TensorPayloads.FromTensor(x, WireDtype.Float32)));
        var garbage = new byte[64];
        new Random(3).NextBytes(garbage);
        // A well-formed MessagePack array whose payload claims 2×8 float32 but carries 10 bytes.
        var lying = MessagePackSerializer.Serialize(new ApplyLinearRequest("g0", 0, 0, new WireRoute([1], [1f]), new TensorPayload(new byte[10], "float32", [2, 8])));
        var unknownKind = MessagePackSerializer.Serialize(new ApplyLinearRequest("g0", 0, 42, new WireRoute([1], [1f]), TensorPayloads.FromTensor(x, WireDtype.Float32)));
        var badDtype = MessagePackSerializer.Serialize(new RequestAnswered(new TensorPayload(new byte[8], "float64", [1])));
        foreach (var (name, bytes, manifest) in new[]
        {
            ("garbage", garbage, "upmoe.apply-linear"), ("truncated", valid[..(valid.Length / 2)], "upmoe.apply-linear"), ("empty", [], "upmoe.stats"),
            ("wrong type for manifest", valid, "upmoe.stats"), ("length mismatch", lying, "upmoe.apply-linear"),
            ("unknown linear", unknownKind, "upmoe.apply-linear"), ("unknown dtype", badDtype, "upmoe.answered"),
        })
        {
            var e = Assert.Throws<SerializationException>(() => UpmoeMessagePackSerializer.Deserialize(bytes, manifest));
            output.WriteLine($"{name}: {e.Message}");
        }
    }

    [Fact]
    public void A_type_outside_the_wire_interface_should_not_be_written()
    {
        var e = Assert.Throws<SerializationException>(() => UpmoeMessagePackSerializer.Serialize(new Uri("http://example.org")));
        Assert.Contains("not a registered upmoe wire message", e.Message);
    }
}
