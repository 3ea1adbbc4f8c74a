using Akka.Actor;
using Akka.DependencyInjection;
using Akka.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Host.Hosting;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;
using GenericHost = Microsoft.Extensions.Hosting.Host;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Host.Tests.Hosting.Samples;

// --- README sample "Worker Service": the app's own actor asks the engine to caption the frames it receives. ---

/// <summary>A frame for <see cref="FrameCaptioner"/>: preprocessed pixels, kept alive by the sender until the reply.</summary>
public sealed record Frame(string Camera, Tensor Pixels);

/// <summary>The reply: the caption's text, decoded by the engine.</summary>
public sealed record FrameCaption(string Camera, string Text);

/// <summary>The app's actor: the engine comes from dependency injection.</summary>
public sealed class FrameCaptioner : ReceiveActor
{
    public FrameCaptioner(IUniPerceiverEngine engine)
    {
        ReceiveAsync<Frame>(async frame =>
        {
            var caption = await engine.CaptionAsync(frame.Pixels);
            Sender.Tell(new FrameCaption(frame.Camera, caption.Text));
        });
    }
}

// --- end of the sample's types ---

public static class WorkerServiceSample
{
    /// <summary>The worker: a generic host whose actor system runs the engine and the app's captioning actor.</summary>
    public static IHost Build(string hocon)
    {
        var builder = GenericHost.CreateApplicationBuilder();
        builder.Services.AddUniPerceiverMoeEngines();
        builder.Services.AddAkka("worker", akka => akka
            .WithUniPerceiverMoe(o => o.Hocon = hocon)
            .WithActors((system, registry, resolver) =>
                registry.Register<FrameCaptioner>(system.ActorOf(resolver.Props<FrameCaptioner>(), "frame-captioner"))));
        return builder.Build();
    }
}

// --- end of the sample ---

/// <summary>The Worker Service sample run as written: the engine and the app's actor share the host's one actor system.</summary>
[Collection(HostingSamplesCollection.Name)]
public sealed class WorkerServiceSampleSpecs(ITestOutputHelper output)
{
    [Fact]
    public async Task The_apps_actor_should_caption_frames_through_the_engine_in_the_one_actor_system()
    {
        using var pixels = SampleSupport.CaptionPixels(SampleSupport.Picture());
        using var host = WorkerServiceSample.Build(SampleSupport.Hocon());
        await host.StartAsync();                                   // returns once the engine is loaded
        var registry = host.Services.GetRequiredService<ActorRegistry>();
        var captioner = await registry.GetAsync<FrameCaptioner>();
        var reply = await captioner.Ask<FrameCaption>(new Frame("cam1", pixels), TimeSpan.FromSeconds(60));
        output.WriteLine(reply.Text);

        var engine = host.Services.GetRequiredService<IUniPerceiverEngine>();
        var direct = await engine.CaptionAsync(pixels);
        Assert.Equal("cam1", reply.Camera);
        Assert.False(string.IsNullOrWhiteSpace(reply.Text));
        Assert.Equal(direct.Text, reply.Text);
        Assert.Equal(GoldenModel.Tokenizer.Decode(direct.Ids.Select(id => (int)id)).Trim(), direct.Text);

        // One actor system: the engine's actors run in the host's (DI) system, under the engine's root actor.
        var system = host.Services.GetRequiredService<ActorSystem>();
        var runtime = host.Services.GetRequiredService<UniPerceiverMoeRuntime>();
        Assert.Same(system, runtime.Engine.System);
        Assert.False(runtime.Engine.OwnsSystem);
        Assert.Equal("/user/upmoe", runtime.Engine.Root.Path.ToStringWithoutAddress());
        Assert.Equal(runtime.Engine.Root, await registry.GetAsync<UniPerceiverMoeEngineKey>());
        Assert.All(runtime.Engine.Executors, e => Assert.Equal(runtime.Engine.Root.Path, e.Path.Parent));
        Assert.Equal(runtime.Engine.Root.Path, runtime.Engine.ExpertHost!.Path.Parent);
        Assert.Equal(captioner.Path.Address, runtime.Engine.Root.Path.Address);

        // The root actor is a peer: the app's actors can ask it directly.
        var peer = await runtime.Engine.Root.Ask<EngineCaption>(new EngineRootProtocol.Caption(pixels), TimeSpan.FromSeconds(60));
        Assert.Equal(direct.Text, peer.Text);

        // The engine stops with the actor system (coordinated shutdown) and frees its model.
        await host.StopAsync();
        Assert.Equal(RuntimeState.Stopped, runtime.State);
        Assert.True(system.WhenTerminated.IsCompleted, "the worker's actor system should have stopped with the host");
        Assert.Throws<EngineNotReadyException>(() => runtime.Engine);
    }

    [Fact]
    public async Task A_worker_configured_from_a_section_without_a_checkpoint_should_fail_to_start_with_a_clear_reason()
    {
        var builder = GenericHost.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["UniPerceiverMoe:engine:vocab"] = Cli.CliHarness.Vocab,
            ["UniPerceiverMoe:engine:torch-threads"] = "1",
        });
        builder.Services.AddUniPerceiverMoeEngines();
        builder.Services.AddAkka("worker", akka => akka.WithUniPerceiverMoe(builder.Configuration.GetSection("UniPerceiverMoe")));
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<Akka.Configuration.ConfigurationException>(() => host.StartAsync());
        Assert.Contains("upmoe.engine.checkpoint is not set", error.Message);
        var runtime = host.Services.GetRequiredService<UniPerceiverMoeRuntime>();
        // Akka.Hosting runs the system's coordinated shutdown after a failed start, which stops the runtime too.
        Assert.Contains(runtime.State, new[] { RuntimeState.Failed, RuntimeState.Stopped });
        Assert.Contains("upmoe.engine.checkpoint is not set", runtime.Error);
        var engine = host.Services.GetRequiredService<IUniPerceiverEngine>();
        Assert.Throws<EngineNotReadyException>(() => engine.Tokenizer);
    }
}
