using System.Collections.Concurrent;
using System.Net.Http.Json;
using Akka.Actor;
using Akka.Hosting;
using Akka.Streams;
using Akka.Streams.Dsl;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Host.Hosting;
using UniPerceiverMoe.Model.Preprocessing;
using UniPerceiverMoe.Streams.Flows;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Host.Tests.Hosting.Samples;

// --- README sample "ASP.NET Core minimal API": endpoints, the app's actors and the engine share one actor system. ---

/// <summary>The app's actor: keeps the captions the API produced.</summary>
public sealed class CaptionLog : ReceiveActor
{
    public sealed record Entry(string Text);
    public sealed record GetAll;

    public CaptionLog()
    {
        var entries = new List<string>();
        Receive<Entry>(e => entries.Add(e.Text));
        Receive<GetAll>(_ => Sender.Tell(entries.ToArray()));
    }
}

public static class MinimalApiSample
{
    public static WebApplication Build(string hocon)
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddUniPerceiverMoeEngines();
        builder.Services.AddAkka("web", akka => akka
            .WithUniPerceiverMoe(o => o.Hocon = hocon)
            .WithActors((system, registry) => registry.Register<CaptionLog>(system.ActorOf(Props.Create<CaptionLog>(), "caption-log"))));
        var app = builder.Build();

        // POST an image: its caption, also told to the app's actor.
        app.MapPost("/caption", async (HttpRequest request, IUniPerceiverEngine engine, IRequiredActor<CaptionLog> log) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            var (rgb, height, width) = ImageDecoder.DecodeRgb(body.ToArray(), "upload");
            using var pixels = ImageTransforms.ClipTransform(rgb, height, width);
            var caption = await engine.CaptionAsync(pixels);
            log.ActorRef.Tell(new CaptionLog.Entry(caption.Text));
            return Results.Json(new { caption.Text });
        });

        // POST an image and labels: zero-shot classification through an Akka.Streams flow run on the app's system.
        app.MapPost("/classify", async (HttpRequest request, IUniPerceiverEngine engine, ActorSystem system) =>
        {
            string[] labels = request.Query["labels"].ToString().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            var (rgb, height, width) = ImageDecoder.DecodeRgb(body.ToArray(), "upload");
            using var pixels = ImageTransforms.ImageNetEvalTransform(rgb, height, width);
            var result = await Source.Single(pixels).Via(engine.ClassifyFlow(labels)).RunWith(Sink.First<Model.Tasks.ClassificationResult>(), system.Materializer());
            return Results.Json(new { Label = result.Top.Label });
        });
        return app;
    }
}

// --- end of the sample ---

[Collection(HostingSamplesCollection.Name)]
public sealed class MinimalApiSampleSpecs(ITestOutputHelper output)
{
    [Fact]
    public async Task The_minimal_API_app_should_serve_captions_and_share_its_actor_system_with_the_engine()
    {
        string image = SampleSupport.Picture();
        await using var app = MinimalApiSample.Build(SampleSupport.Hocon());
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };

        var response = await http.PostAsync("/caption", new ByteArrayContent(await File.ReadAllBytesAsync(image)));
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadFromJsonAsync<Dictionary<string, string>>();
        string text = body!["text"];
        output.WriteLine(text);
        Assert.False(string.IsNullOrWhiteSpace(text));

        var classified = await http.PostAsync("/classify?labels=a%20dog,a%20test%20pattern", new ByteArrayContent(await File.ReadAllBytesAsync(image)));
        classified.EnsureSuccessStatusCode();
        var label = (await classified.Content.ReadFromJsonAsync<Dictionary<string, string>>())!["label"];
        Assert.Contains(label, new[] { "a dog", "a test pattern" });

        // One actor system: the endpoints' ActorSystem, the app's actor and the engine's actors are the same system.
        var system = app.Services.GetRequiredService<ActorSystem>();
        var runtime = app.Services.GetRequiredService<UniPerceiverMoeRuntime>();
        Assert.Same(system, runtime.Engine.System);
        Assert.False(runtime.Engine.OwnsSystem);
        var log = await app.Services.GetRequiredService<ActorRegistry>().GetAsync<CaptionLog>();
        Assert.Equal("web", system.Name);
        Assert.Equal(log.Path.Address, runtime.Engine.Root.Path.Address);
        var logged = await log.Ask<string[]>(new CaptionLog.GetAll(), TimeSpan.FromSeconds(10));
        Assert.Equal([text], logged);

        await app.StopAsync();
        Assert.Equal(RuntimeState.Stopped, runtime.State);
        Assert.True(system.WhenTerminated.IsCompleted, "the app's actor system should have stopped with the app");
    }
}
