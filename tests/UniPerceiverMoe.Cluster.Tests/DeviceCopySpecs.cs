using Akka.Actor;
using UniPerceiverMoe.Actors.Serialization;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;
using static UniPerceiverMoe.Actors.Cluster.ExpertShardProtocol;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>
/// Every hop to an expert node crosses between torch memory and the host exactly twice each way: the frontend encodes
/// the request's input and decodes the reply, the expert node decodes the input and encodes the reply (counted by
/// <see cref="DeviceStaging.Copied"/>; on a GPU these are the device ↔ pinned-host copies). The expert node spreads its
/// groups over two device slots, ["cpu", "cpu"], and reports each group's device.
/// </summary>
[Trait("Category", "Golden")]
public sealed class DeviceCopySpecs(ITestOutputHelper output)
{
    // No follow-up constants travel (fused tail and layer off), so every request carries exactly one tensor.
    private const string Extra = """
        upmoe.engine.fuse-tail = off
        upmoe.engine.fuse-layer = off
        upmoe.placement.devices = ["cpu", "cpu"]
        """;

    [Fact]
    public async Task Each_hop_should_copy_its_input_and_its_result_once_each_way()
    {
        await using var frontend = TestCluster.StartFrontend("per-layer", Extra);
        await using var expert = TestCluster.StartExpert(frontend.Address, "per-layer", Extra);
        await TestCluster.AwaitFormedAsync(frontend, members: 2, expertRegions: 1);
        var image = GoldenFixture.Input("image.in1k_224");
        using (await frontend.Engine.EmbedVisualAsync(image, EmbedTask.ImageClassification)) { }   // groups started, homes known

        long toHost = 0, toDevice = 0, hopsBefore = Hops(expert);
        long resendsBefore = frontend.Counters.Resends.Value, splitsBefore = frontend.Counters.SplitParts.Value;
        void Count(CopyDirection direction, TorchSharp.DeviceType device) =>
            Interlocked.Increment(ref direction == CopyDirection.DeviceToHost ? ref toHost : ref toDevice);
        DeviceStaging.Copied += Count;
        try
        {
            using var feature = await frontend.Engine.EmbedVisualAsync(image, EmbedTask.ImageClassification);
        }
        finally
        {
            DeviceStaging.Copied -= Count;
        }
        long hops = Hops(expert) - hopsBefore;
        output.WriteLine($"hops {hops}, device->host {toHost}, host->device {toDevice}; " +
            string.Join(", ", frontend.Counters.Snapshot().Select(kv => $"{kv.Key}={kv.Value}")));
        Assert.True(hops > 0, "the embedding should have reached the expert node");
        // A resend or a split would add copies (the warm-up request above may have been resent while groups started).
        Assert.Equal(0, frontend.Counters.Resends.Value - resendsBefore + frontend.Counters.SplitParts.Value - splitsBefore + expert.Counters.EntityFailures.Value);
        Assert.Equal(2 * hops, toHost);
        Assert.Equal(2 * hops, toDevice);

        foreach (var group in frontend.Engine.Plan.Groups)
        {
            var stats = await frontend.Region.Ask<GroupStats>(new GetGroupStats(group.Id), TimeSpan.FromSeconds(10));
            Assert.Equal("cpu", stats.Device);
            Assert.Equal(expert.Address.ToString(), stats.Node);
        }
    }

    /// <summary>Requests the expert node answered: through its shard entities (Akka) or straight from its data plane.</summary>
    private static long Hops(UniPerceiverMoe.Actors.Cluster.ExpertNode expert) => expert.Counters.EntityRequests.Value + expert.Counters.DataPlaneDirect.Value;
}
