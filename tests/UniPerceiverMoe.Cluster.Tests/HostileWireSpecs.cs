using UniPerceiverMoe.Model.Routing.Requests;
using Akka.Actor;
using MessagePack;
using UniPerceiverMoe.Actors.Serialization;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;
using static UniPerceiverMoe.Actors.Cluster.ExpertShardProtocol;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>Malformed and unknown messages reach a live expert node: each is logged and dropped; the node keeps serving.</summary>
[Trait("Category", "Golden")]
public sealed class HostileWireSpecs(InProcessClusterFixture cluster, ITestOutputHelper output) : IClassFixture<InProcessClusterFixture>
{
    [Fact]
    public async Task Malformed_and_unknown_messages_should_be_logged_dropped_and_the_node_should_keep_serving()
    {
        var target = cluster.Experts[0];
        var log = HostileWire.CollectLogs(target.System);
        var intruder = HostileWire.Start();
        try
        {
            var region = await intruder.ActorSelection(new RootActorPath(target.Address) / "system" / "sharding" / TypeName)
                .ResolveOne(TimeSpan.FromSeconds(10));
            var garbage = new byte[256];
            new Random(11).NextBytes(garbage);
            var lying = MessagePackSerializer.Serialize(new ApplyLinearRequest("L0E0", 0, 0, new WireRoute([0], [1f]), new TensorPayload(new byte[12], "float32", [GoldenFacts.Hidden, GoldenFacts.Hidden])));
            RawWire[] hostile =
            [
                new("System.Diagnostics.Process, System", garbage),
                new("upmoe.apply-linear", garbage),
                new("upmoe.apply-linear", lying),
                new("upmoe.stats", []),
            ];
            foreach (var message in hostile) region.Tell(message);

            await TestCluster.AwaitAsync(() => log.Count(e => e.Message?.ToString()?.Contains("upmoe wire") == true) >= hostile.Length,
                TimeSpan.FromSeconds(10), "a log line for every refused message");
            foreach (var e in log.Where(e => e.Message?.ToString()?.Contains("upmoe wire") == true)) output.WriteLine($"[{e.LogLevel()}] {e.Message}");

            Assert.False(target.System.WhenTerminated.IsCompleted);
            using var feature = await cluster.Frontend.Engine.EmbedVisualAsync(GoldenFixture.Input("image.in1k_224"), EmbedTask.ImageClassification);
            TensorAssert.Close(output, "feat.image_cls after hostile input", GoldenFixture.Output("feat.image_cls"), feature, Tolerances.Features);
            var homes = await TestCluster.GroupHomesAsync(cluster.Frontend);
            Assert.Contains(target.Address.ToString(), homes.Values);
        }
        finally
        {
            await intruder.Terminate();
        }
    }
}
