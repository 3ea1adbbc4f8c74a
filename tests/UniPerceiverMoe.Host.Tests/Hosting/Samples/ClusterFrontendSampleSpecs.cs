using UniPerceiverMoe.Bench.Processes;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Hosting;
using Akka.Hosting;
using Akka.Remote.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Host.Hosting;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;
using GenericHost = Microsoft.Extensions.Hosting.Host;

namespace UniPerceiverMoe.Host.Tests.Hosting.Samples;

// --- README sample "A host app as cluster frontend": its own WithClustering is the cluster the engine joins. ---

public static class ClusterFrontendSample
{
    /// <summary>The app: one actor system (named like the expert nodes' system), one remoting port, the frontend role.</summary>
    public static IHost Build(string seed, string configFile, string hocon)
    {
        var builder = GenericHost.CreateApplicationBuilder();
        builder.Services.AddUniPerceiverMoeEngines();
        builder.Services.AddAkka(UniPerceiverEngine.SystemName, akka => akka
            .WithRemoting("127.0.0.1", 0)
            .WithClustering(new ClusterOptions { Roles = ["frontend"], SeedNodes = [seed] })
            .WithUniPerceiverMoe(o => { o.ConfigFile = configFile; o.Hocon = hocon; o.Streams = false; }));
        return builder.Build();
    }
}

// --- end of the sample ---

/// <summary>The frontend sample over a real expert node process (<c>upmoe node --role experts</c>).</summary>
[Collection(HostingSamplesCollection.Name)]
[Trait("Category", "Golden")]
public sealed class ClusterFrontendSampleSpecs(ITestOutputHelper output)
{
    [Fact]
    public async Task A_host_clustering_itself_should_be_a_working_frontend_of_an_expert_node_process()
    {
        int port = FreePort();
        string seed = $"akka.tcp://{UniPerceiverEngine.SystemName}@127.0.0.1:{port}";
        await using var experts = ExpertProcess.Start(UpmoeCommand(),
        [
            "node", "--role", "experts", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--seed", seed,
            "--config", Hocon("loopback.conf"),
            "--set", $"upmoe.engine.checkpoint = {UpmoeConfig.Quote(GoldenModel.CheckpointPath)}", "--set", "upmoe.engine.torch-threads = 1",
        ]);
        var expertAddress = await experts.WhenUp(TimeSpan.FromSeconds(90));

        // The one-machine timings (hocon/loopback.conf) come with the engine's configuration, behind the host's own.
        using var host = ClusterFrontendSample.Build(seed, Hocon("loopback.conf"), SampleSupport.Hocon());
        await host.StartAsync();
        try
        {
            var engine = host.Services.GetRequiredService<IUniPerceiverEngine>();
            var system = host.Services.GetRequiredService<ActorSystem>();
            var cluster = Cluster.Get(system);
            var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            cluster.RegisterOnMemberUp(() => up.TrySetResult());
            await up.Task.WaitAsync(TimeSpan.FromSeconds(30));
            using var feature = await engine.EmbedVisualAsync(GoldenFixture.Input("image.in1k_224"), EmbedTask.ImageClassification)
                .WaitAsync(TimeSpan.FromSeconds(60));
            TensorAssert.Close(output, "feat.image_cls through the host's own cluster", GoldenFixture.Output("feat.image_cls"), feature, Tolerances.Features);

            // One actor system and one remoting port: the engine runs in the host's system, which is the cluster member.
            var runtime = host.Services.GetRequiredService<UniPerceiverMoeRuntime>();
            Assert.Same(system, runtime.Engine.System);
            Assert.Contains("frontend", cluster.SelfRoles);
            Assert.Contains(cluster.State.Members, m => m.Address == expertAddress && m.HasRole("experts") && m.Status == MemberStatus.Up);
            Assert.Equal(cluster.SelfAddress, ((ExtendedActorSystem)system).Provider.DefaultAddress);
            var region = await host.Services.GetRequiredService<ActorRegistry>().GetAsync<UniPerceiverMoeExpertRegionKey>();
            Assert.Contains(ExpertShardProtocol.TypeName, region.Path.Name);
        }
        finally
        {
            await host.StopAsync();
        }
    }

    /// <summary>The upmoe command next to the tests (the Host project's output is copied here).</summary>
    private static IReadOnlyList<string> UpmoeCommand()
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "upmoe.dll");
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } h && File.Exists(h) ? h
            : Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self
            : "dotnet";
        return [dotnet, dll];
    }

    private static string Hocon(string name) => Path.Combine(GoldenFixture.RepoRoot, "hocon", name);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
