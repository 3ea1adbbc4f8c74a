using UniPerceiverMoe.Bench.Processes;
using System.Net;
using System.Net.Sockets;
using Akka.Cluster;
using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>
/// Cluster formation without a seed list (upmoe.cluster.discovery.method = config): three expert-node processes and a
/// frontend in this process, given the same service name and the list of the four remoting endpoints and no seed
/// node, find each other through Akka.Discovery and form one cluster.
/// </summary>
[Trait("Category", "Golden")]
public sealed class DiscoveryFormationSpecs(ITestOutputHelper output)
{
    private const string Placement = "per-layer";

    /// <summary>Free TCP ports on 127.0.0.1 (bound, then released for the nodes to bind).</summary>
    private static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToArray();
        foreach (var l in listeners) l.Start();
        var ports = listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        foreach (var l in listeners) l.Stop();
        return ports;
    }

    private static string Discovery(IEnumerable<int> ports, int own) => $$"""
        akka.remote.dot-netty.tcp.port = {{own}}
        upmoe.cluster.discovery {
          method = config
          service-name = upmoe-formation-test
          required-contact-points = 3
          endpoints = [{{string.Join(", ", ports.Select(p => $"\"127.0.0.1:{p}\""))}}]
        }
        """;

    [Fact]
    public async Task Three_node_processes_with_config_discovery_and_no_seed_list_should_form_one_cluster()
    {
        var ports = FreePorts(4);
        var nodes = new List<ExpertProcess>();
        try
        {
            foreach (int port in ports.Take(3))
                nodes.Add(ExpertProcess.Start(TestCluster.NodeCommand(),
                [
                    "--config", TestCluster.HoconFile("experts.conf"), "--config", TestCluster.HoconFile("loopback.conf"),
                    "--set", TestCluster.Common(Placement), "--set", Discovery(ports, port),
                ]));
            // The frontend finds the cluster the same way, started while the processes are still starting.
            await using var frontend = ClusterFrontend.Start(TestCluster.Config("frontend", Placement, Discovery(ports, ports[3])),
                new ClusterFrontendOptions
                {
                    Engine = new EngineStartOptions
                    {
                        Model = GoldenModel.Model,
                        CheckpointPath = GoldenModel.CheckpointPath,
                        Tokenizer = GoldenModel.Tokenizer,
                    },
                });
            // Every node becomes Up by itself: nobody told any of them an address to join.
            var addresses = await Task.WhenAll(nodes.Select(n => n.WhenUp(TimeSpan.FromSeconds(90))));
            output.WriteLine("nodes up: " + string.Join(", ", addresses.Select(a => a.ToString())));
            Assert.Equal(3, addresses.Distinct().Count());
            // One cluster, not several: the frontend sees all three expert nodes Up and their regions registered.
            await frontend.WhenUp().WaitAsync(TimeSpan.FromSeconds(60));
            await TestCluster.AwaitFormedAsync(frontend, members: 4, expertRegions: 3);
            var members = frontend.Cluster.State.Members.Where(m => m.Status == MemberStatus.Up).Select(m => m.Address).ToHashSet();
            Assert.Superset(addresses.ToHashSet(), members);

            // And the cluster computes: an embedding through the expert nodes matches the fixture.
            using var feature = await frontend.Engine.EmbedVisualAsync(GoldenFixture.Input("image.in1k_224"), EmbedTask.ImageClassification);
            using var diff = (feature - GoldenFixture.Output("feat.image_cls")).abs().max();
            Assert.True(diff.item<float>() <= Tolerances.Features, $"max |diff| {diff.item<float>()}");
            var homes = await TestCluster.GroupHomesAsync(frontend);
            output.WriteLine($"groups on {homes.Values.Distinct().Count()} node(s)");
            Assert.Subset(addresses.Select(a => a.ToString()).ToHashSet(), homes.Values.ToHashSet());
        }
        catch
        {
            foreach (var (node, i) in nodes.Select((n, i) => (n, i)))
                foreach (var line in node.Log) output.WriteLine($"node {i}: {line}");
            throw;
        }
        finally
        {
            foreach (var node in nodes) await node.DisposeAsync();
        }
    }
}
