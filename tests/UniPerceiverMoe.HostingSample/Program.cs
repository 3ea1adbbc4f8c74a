using Akka.Actor;
using Akka.DependencyInjection;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Host.Hosting;
using UniPerceiverMoe.Model.Preprocessing;

// usage: my-app <image file> <engine .conf file, e.g. upmoe.engine.checkpoint = "model.pth">
var (image, engineConfig) = (args[0], args[1]);
var builder = Host.CreateApplicationBuilder();
builder.Services.AddUniPerceiverMoeEngines();
builder.Services.AddAkka("my-app", akka => akka
    .WithUniPerceiverMoe(o => o.ConfigFile = engineConfig)
    .WithActors((system, registry, resolver) =>
        registry.Register<ImageCaptioner>(system.ActorOf(resolver.Props<ImageCaptioner>(), "image-captioner"))));
using var host = builder.Build();
await host.StartAsync();                                  // returns once the engine is loaded
var captioner = await host.Services.GetRequiredService<ActorRegistry>().GetAsync<ImageCaptioner>();
Console.WriteLine($"caption: {await captioner.Ask<string>(image, TimeSpan.FromMinutes(1))}");
await host.WaitForShutdownAsync();                        // serve until Ctrl+C or SIGTERM

/// <summary>The app's own actor: decodes an image file and asks the engine for its caption.</summary>
public sealed class ImageCaptioner : ReceiveActor
{
    public ImageCaptioner(IUniPerceiverEngine engine) =>
        ReceiveAsync<string>(async path =>
        {
            var (rgb, height, width) = ImageDecoder.DecodeRgb(path);
            using var pixels = ImageTransforms.ClipTransform(rgb, height, width);
            Sender.Tell((await engine.CaptionAsync(pixels)).Text);
        });
}
