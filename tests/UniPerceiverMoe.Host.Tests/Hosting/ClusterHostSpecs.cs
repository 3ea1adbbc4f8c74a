using UniPerceiverMoe.Actors.Settings;
using System.Net;
using System.Net.Sockets;
using Akka.Cluster;
using Akka.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Host.Cli.Commands;
using UniPerceiverMoe.Host.Hosting;
using UniPerceiverMoe.Host.Tests.Cli;
using UniPerceiverMoe.Host.Tests.Server;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;
using GenericHost = Microsoft.Extensions.Hosting.Host;

namespace UniPerceiverMoe.Host.Tests.Hosting;

/// <summary>A host app whose configuration names hocon/frontend.conf joins a cluster as its frontend: the same
/// AddUniPerceiverMoe call, the expert groups served by an expert node.</summary>
[Collection(ServerCollection.Name)]
[Trait("Category", "Golden")]
public sealed class ClusterHostSpecs(ITestOutputHelper output)
{
    [Fact]
    public async Task A_host_configured_as_frontend_should_join_the_cluster_and_match_the_embedded_engine()
    {
        int port = FreePort();
        string seed = $"akka.tcp://upmoe@127.0.0.1:{port}";
        string frontendConf = Path.Combine(CliHarness.TempDir(), "my-frontend.conf");
        // The user's file: the shipped frontend role file and the one-machine overlay, with this test's port as the seed.
        File.WriteAllText(frontendConf, File.ReadAllText(Hocon("frontend.conf")) + "\n" + File.ReadAllText(Hocon("loopback.conf")) + $"""

            akka.remote.dot-netty.tcp.port = {port}
            akka.cluster.seed-nodes = ["{seed}"]
            """);
        var settings = new Dictionary<string, string?>
        {
            ["UniPerceiverMoe:config-file"] = frontendConf,
            ["UniPerceiverMoe:engine:checkpoint"] = GoldenModel.CheckpointPath,
            ["UniPerceiverMoe:engine:vocab"] = CliHarness.Vocab,
            ["UniPerceiverMoe:engine:cache-dir"] = CliHarness.CacheDir,
            ["UniPerceiverMoe:engine:torch-threads"] = "1",
        };
        await using var experts = ExpertNode.Start(UpmoeConfig.Load([Hocon("experts.conf"), Hocon("loopback.conf")],
            [$"akka.cluster.seed-nodes = [\"{seed}\"]", $"upmoe.engine.checkpoint = {Quote(GoldenModel.CheckpointPath)}", "upmoe.engine.torch-threads = 1"]));

        var builder = GenericHost.CreateApplicationBuilder([]);
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddUniPerceiverMoe(builder.Configuration.GetSection("UniPerceiverMoe"), o => o.Streams = false);
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var engine = host.Services.GetRequiredService<UniPerceiverMoeRuntime>().Engine;
            var cluster = Cluster.Get(engine.System);
            Assert.Contains("frontend", cluster.SelfRoles);
            await experts.WhenUp().WaitAsync(TimeSpan.FromSeconds(30));
            using var feature = await engine.EmbedVisualAsync(GoldenFixture.Input("image.in1k_224"), EmbedTask.ImageClassification)
                .WaitAsync(TimeSpan.FromSeconds(60));
            TensorAssert.Close(output, "feat.image_cls through the hosted frontend", GoldenFixture.Output("feat.image_cls"), feature, Tolerances.Features);
            Assert.Contains(cluster.State.Members, m => m.HasRole("experts") && m.Status == MemberStatus.Up);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public void An_expert_only_configuration_should_be_refused_as_an_engine_with_the_command_to_use()
    {
        var config = UpmoeConfig.Load([Hocon("experts.conf")], [$"upmoe.engine.checkpoint = {Quote(GoldenModel.CheckpointPath)}"]);
        var error = Assert.Throws<ConfigurationException>(() => EngineLauncher.Start(config));
        Assert.Contains("upmoe node --role experts", error.Message);
    }

    [Fact]
    public void Node_role_options_should_become_cluster_settings_and_bad_seeds_should_be_named()
    {
        var lines = NodeCommand.RoleSettings("frontend", ["akka.tcp://upmoe@10.0.0.5:4053"], 4055, 8081).ToArray();
        var config = ConfigurationFactory.ParseString(string.Join("\n", lines));
        Assert.True(EngineLauncher.IsClusterProvider(config));
        Assert.Equal(["frontend"], config.GetStringList("akka.cluster.roles"));
        Assert.Equal(["akka.tcp://upmoe@10.0.0.5:4053"], config.GetStringList("akka.cluster.seed-nodes"));
        Assert.Equal(4055, config.GetInt("akka.remote.dot-netty.tcp.port"));
        Assert.Equal(8081, config.GetInt("upmoe.server.port"));
        var error = Assert.Throws<ArgumentException>(() => NodeCommand.RoleSettings(null, ["10.0.0.5:4053"], null, null).ToArray());
        Assert.Contains("--seed 10.0.0.5:4053", error.Message);
        Assert.Empty(NodeCommand.RoleSettings(null, null, null, null));
        // A TLS node's address (akka.remote.dot-netty.tcp.enable-ssl on) is a seed too.
        Assert.Contains("akka.ssl.tcp://upmoe@10.0.0.5:4053", Assert.Single(NodeCommand.RoleSettings(null, ["akka.ssl.tcp://upmoe@10.0.0.5:4053"], null, null)));
    }

    [Fact]
    public void Node_discovery_options_should_become_discovery_settings_and_bad_contact_points_should_be_named()
    {
        var lines = NodeCommand.DiscoveryOptions("config", "upmoe-a", ["127.0.0.1:4100", "127.0.0.1:4101"]).ToArray();
        // Over a role file that names the local recipe's seed: --discovery config clears it.
        var config = UpmoeConfig.Load([Hocon("experts.conf")], ["akka.remote.dot-netty.tcp.port = 4100", .. lines]);
        Assert.Empty(config.GetStringList("akka.cluster.seed-nodes"));
        var discovery = DiscoverySettings.FromConfig(config);
        Assert.Equal(DiscoveryMethod.Config, discovery.Method);
        Assert.Equal("upmoe-a", discovery.ServiceName);
        Assert.Equal(["127.0.0.1:4100", "127.0.0.1:4101"], discovery.Endpoints);
        var error = Assert.Throws<ArgumentException>(() => NodeCommand.DiscoveryOptions("config", null, ["node-a"]).ToArray());
        Assert.Contains("--contact-point node-a", error.Message);
        Assert.Empty(NodeCommand.DiscoveryOptions(null, null, null));
    }

    private static string Hocon(string name) => Path.Combine(GoldenFixture.RepoRoot, "hocon", name);

    private static string Quote(string value) => Actors.Settings.UpmoeConfig.Quote(value);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
