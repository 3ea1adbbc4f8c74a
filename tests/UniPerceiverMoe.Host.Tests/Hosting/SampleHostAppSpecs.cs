using Akka.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using UniPerceiverMoe.Host.Hosting;
using UniPerceiverMoe.Host.Tests.Cli;
using UniPerceiverMoe.Host.Tests.Server;
using UniPerceiverMoe.Model.Preprocessing;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;
using GenericHost = Microsoft.Extensions.Hosting.Host;   // "Host" alone is this project's namespace here

namespace UniPerceiverMoe.Host.Tests.Hosting;

/// <summary>The README's sample host app (Microsoft.Extensions.Hosting), run as written: start, caption, stop.</summary>
[Collection(ServerCollection.Name)]
public sealed class SampleHostAppSpecs(ITestOutputHelper output)
{
    /// <summary>What appsettings.json would hold: the engine keys under "UniPerceiverMoe".</summary>
    private static Dictionary<string, string?> Settings(string? checkpoint) => new()
    {
        ["UniPerceiverMoe:engine:checkpoint"] = checkpoint,
        ["UniPerceiverMoe:engine:vocab"] = CliHarness.Vocab,
        ["UniPerceiverMoe:engine:cache-dir"] = CliHarness.CacheDir,
        ["UniPerceiverMoe:engine:torch-threads"] = "1",
    };

    [Fact]
    public async Task The_sample_host_app_should_start_caption_and_stop_cleanly()
    {
        string image = Path.Combine(CliHarness.TempDir(), "photo.png");
        TestVideos.Ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240", "-frames:v", "1", image);

        // --- the README sample, with in-memory settings for appsettings.json ---
        var builder = GenericHost.CreateApplicationBuilder([]);
        builder.Configuration.AddInMemoryCollection(Settings(GoldenModel.CheckpointPath));
        builder.Services.AddUniPerceiverMoe(builder.Configuration.GetSection("UniPerceiverMoe"));
        using var host = builder.Build();
        await host.StartAsync();                                  // returns once the engine is loaded
        var runtime = host.Services.GetRequiredService<UniPerceiverMoeRuntime>();
        var (rgb, height, width) = ImageDecoder.DecodeRgb(image);
        using var pixels = ImageTransforms.ClipTransform(rgb, height, width);
        var caption = await runtime.Engine.CaptionAsync(pixels);
        string text = caption.Text;                               // decoded by the engine
        var engine = runtime.Engine;
        await host.StopAsync();                                   // streams settle, the actor system stops, the model is freed
        // --- end of the sample ---

        output.WriteLine(text);
        Assert.False(string.IsNullOrWhiteSpace(text));
        Assert.Equal(GoldenModel.CheckpointPath, engine.CheckpointPath);
        Assert.Equal(RuntimeState.Stopped, runtime.State);
        Assert.True(engine.System.WhenTerminated.IsCompleted, "the engine's actor system is still running after the host stopped");
        var error = Assert.Throws<EngineNotReadyException>(() => runtime.Engine);
        Assert.Equal("the engine has stopped", error.Message);
    }

    [Fact]
    public async Task A_host_without_a_checkpoint_should_fail_to_start_with_a_clear_reason()
    {
        var builder = GenericHost.CreateApplicationBuilder([]);
        builder.Configuration.AddInMemoryCollection(Settings(checkpoint: null));
        builder.Services.AddUniPerceiverMoe(builder.Configuration.GetSection("UniPerceiverMoe"));
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<ConfigurationException>(() => host.StartAsync());
        var runtime = host.Services.GetRequiredService<UniPerceiverMoeRuntime>();
        Assert.Contains("upmoe.engine.checkpoint is not set", error.Message);
        Assert.Equal(RuntimeState.Failed, runtime.State);
        Assert.Contains("upmoe.engine.checkpoint is not set", runtime.Error);
        await host.StopAsync();
        Assert.Equal(RuntimeState.Stopped, runtime.State);
    }

    [Fact]
    public void Configuration_keys_should_become_HOCON_keys_under_upmoe()
    {
        var section = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["UniPerceiverMoe:engine:checkpoint"] = "/models/a \"b\".pth",
            ["UniPerceiverMoe:streams:hop"] = "2s",
            ["UniPerceiverMoe:config-file"] = "/etc/upmoe.conf",
        }).Build().GetSection("UniPerceiverMoe");

        var config = UniPerceiverMoe.Actors.Settings.UpmoeConfig.Parse(UniPerceiverMoeServiceCollectionExtensions.HoconOf(section));

        Assert.Equal("/models/a \"b\".pth", config.GetString("upmoe.engine.checkpoint"));
        Assert.Equal(TimeSpan.FromSeconds(2), config.GetTimeSpan("upmoe.streams.hop"));
        Assert.False(config.HasPath("upmoe.config-file"));
    }
}
