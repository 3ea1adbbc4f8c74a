using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Host.Hosting;
using UniPerceiverMoe.Host.Tests.Cli;
using UniPerceiverMoe.Model;
using UniPerceiverMoe.Model.Checkpoints;
using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.TestSupport;
using static TorchSharp.torch;
using GenericHost = Microsoft.Extensions.Hosting.Host;

namespace UniPerceiverMoe.Host.Tests.Hosting.Samples;

/// <summary>Registry keys of the two engines.</summary>
public sealed class GoldenEngine;
public sealed class OtherEngine;

/// <summary>Two engines with different checkpoints in one actor system, under two names.</summary>
[Collection(HostingSamplesCollection.Name)]
public sealed class MultiEngineSpecs
{
    /// <summary>A second checkpoint: the golden tiny weights with every matrix scaled by 0.9 (same shape, other outputs).</summary>
    private static string OtherCheckpoint()
    {
        string dir = CliHarness.TempDir();
        string path = Path.Combine(dir, "model.safetensors");
        using (no_grad())
        {
            var state = GoldenModel.Model.state_dict()
                .ToDictionary(kv => kv.Key, kv => kv.Value.dim() >= 2 && kv.Value.is_floating_point() ? TorchScalar.Use(0.9, scale => kv.Value.mul(scale)) : kv.Value.clone());
            SafeTensors.Save(path, state);
            foreach (var t in state.Values) t.Dispose();
        }
        File.Copy(GoldenFixture.File("config.json"), Path.Combine(dir, "config.json"));
        return path;
    }

    [Fact]
    public async Task Two_engines_in_one_actor_system_should_not_share_actor_names_counters_or_caches()
    {
        string other = OtherCheckpoint();
        var builder = GenericHost.CreateApplicationBuilder([]);
        builder.Services.AddUniPerceiverMoeEngines();
        builder.Services.AddAkka("multi", akka => akka
            .WithUniPerceiverMoe<GoldenEngine>(o => { o.Name = "golden"; o.Hocon = SampleSupport.Hocon(); o.Streams = false; })
            .WithUniPerceiverMoe<OtherEngine>(o => { o.Name = "other"; o.Hocon = SampleSupport.Hocon(other); o.Streams = false; }));
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var golden = (HostedEngine)host.Services.GetRequiredKeyedService<IUniPerceiverEngine>("golden");
            var second = (HostedEngine)host.Services.GetRequiredKeyedService<IUniPerceiverEngine>("other");
            var (a, b) = (golden.Runtime.Engine, second.Runtime.Engine);
            var registry = host.Services.GetRequiredService<ActorRegistry>();

            // Actor names: each engine under its own root; both in the host's one system.
            Assert.Same(host.Services.GetRequiredService<ActorSystem>(), a.System);
            Assert.Same(a.System, b.System);
            Assert.Equal("/user/golden", a.Root.Path.ToStringWithoutAddress());
            Assert.Equal("/user/other", b.Root.Path.ToStringWithoutAddress());
            Assert.Equal(a.Root, await registry.GetAsync<GoldenEngine>());
            Assert.Equal(b.Root, await registry.GetAsync<OtherEngine>());
            Assert.Empty(a.Executors.Select(e => e.Path.ToString()).Intersect(b.Executors.Select(e => e.Path.ToString())));
            Assert.Same(a, ((HostedEngine)host.Services.GetRequiredService<IUniPerceiverEngine>()).Runtime.Engine);   // the first added is the default
            Assert.Equal(GoldenModel.CheckpointPath, a.CheckpointPath);
            Assert.Equal(other, b.CheckpointPath);

            // Different checkpoints are served: the same image embeds differently.
            var image = GoldenFixture.Input("image.in1k_224");
            using var fa = await golden.EmbedVisualAsync(image, EmbedTask.ImageClassification);
            using var fb = await second.EmbedVisualAsync(image, EmbedTask.ImageClassification);
            Assert.False(fa.allclose(fb, rtol: 0, atol: 1e-4), "the two engines returned the same features: they serve the same weights");

            // Counters: work on one engine is counted by that engine only.
            long before = b.Counters.RequestsCompleted.Value;
            using var pixels = SampleSupport.CaptionPixels(SampleSupport.Picture());
            var caption = await golden.CaptionAsync(pixels);
            Assert.False(string.IsNullOrWhiteSpace(caption.Text));
            Assert.Equal(before, b.Counters.RequestsCompleted.Value);
            Assert.NotSame(a.Counters, b.Counters);

            // Caches: one vocabulary bank per checkpoint (both built at start), in separate files.
            var config = UniPerceiverConfig.FromJsonFile(GoldenFixture.File("config.json"));
            string bankA = VocabularyBankCache.PathFor(CliHarness.CacheDir, a.CheckpointPath, config);
            string bankB = VocabularyBankCache.PathFor(CliHarness.CacheDir, b.CheckpointPath, config);
            Assert.NotEqual(bankA, bankB);
            Assert.True(File.Exists(bankA) && File.Exists(bankB), $"bank files {bankA} and {bankB} should both exist");
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public void Two_engines_with_one_name_should_be_refused_naming_the_name()
    {
        var builder = GenericHost.CreateApplicationBuilder([]);
        builder.Services.AddUniPerceiverMoeEngines();
        builder.Services.AddAkka("dup", akka => akka
            .WithUniPerceiverMoe<GoldenEngine>(o => o.Hocon = SampleSupport.Hocon())
            .WithUniPerceiverMoe<OtherEngine>(o => o.Hocon = SampleSupport.Hocon()));
        using var host = builder.Build();
        var error = Assert.Throws<ArgumentException>(() => host.Services.GetRequiredService<ActorSystem>());
        Assert.Contains("an engine named 'upmoe' is already in this actor system", error.Message);
    }
}
