using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace UniPerceiverMoe.Host.Hosting;

/// <summary>
/// Embeds the engine in a Microsoft.Extensions.Hosting app: a singleton <see cref="UniPerceiverMoeRuntime"/> (the
/// engine and its caption-stream hub, for injection) and a hosted service that starts it with the host and stops it
/// (streams settled, actor system terminated, model disposed) when the host stops.
/// <code>
/// builder.Services.AddUniPerceiverMoe(o => o.Hocon = "upmoe.engine.checkpoint = \"model.pth\"");
/// // later: var caption = await runtime.Engine.CaptionAsync(pixels);
/// </code>
/// For apps without Akka: the engine creates and owns its ActorSystem (<see cref="Actors.Engine.UniPerceiverEngine.Start"/>).
/// Apps with an actor system of their own (Akka.Hosting) use <see cref="UniPerceiverMoeAkkaHostingExtensions.WithUniPerceiverMoe(Akka.Hosting.AkkaConfigurationBuilder, Action{UniPerceiverMoeOptions})"/>
/// instead: the same options and <see cref="UniPerceiverMoeRuntime"/>, the engine inside that system.
/// </summary>
public static class UniPerceiverMoeServiceCollectionExtensions
{
    public static IServiceCollection AddUniPerceiverMoe(this IServiceCollection services, Action<UniPerceiverMoeOptions> configure)
    {
        var options = new UniPerceiverMoeOptions();
        configure(options);
        services.TryAddSingleton(options);
        services.TryAddSingleton<UniPerceiverMoeRuntime>();
        services.AddHostedService<UniPerceiverMoeHostedService>();
        return services;
    }

    /// <summary>
    /// Reads the engine's configuration from a configuration section (appsettings.json, environment): its scalar
    /// keys are HOCON keys under <c>upmoe</c> (<c>"UniPerceiverMoe": { "engine": { "checkpoint": "model.pth" } }</c>
    /// sets <c>upmoe.engine.checkpoint</c>); the key <c>config-file</c> names a HOCON file for everything else.
    /// </summary>
    public static IServiceCollection AddUniPerceiverMoe(this IServiceCollection services, IConfiguration section,
        Action<UniPerceiverMoeOptions>? configure = null) =>
        services.AddUniPerceiverMoe(o =>
        {
            o.ConfigFile = section["config-file"];
            o.Hocon = HoconOf(section);
            configure?.Invoke(o);
        });

    /// <summary>HOCON assignments for the section's scalar values (values quoted as JSON strings: HOCON reads them
    /// as numbers, durations, sizes or booleans where a key needs one).</summary>
    internal static string HoconOf(IConfiguration section)
    {
        var hocon = new StringBuilder();
        foreach (var (key, value) in section.AsEnumerable(makePathsRelative: true))
        {
            if (value is null || key == "config-file") continue;
            string path = string.Join('.', key.Split(':').Select(k => JsonSerializer.Serialize(k)));
            hocon.Append("upmoe.").Append(path).Append(" = ").AppendLine(JsonSerializer.Serialize(value));
        }
        return hocon.ToString();
    }
}

/// <summary>Starts the runtime with the host (waiting for it unless <see cref="UniPerceiverMoeOptions.StartInBackground"/>)
/// and stops it with the host.</summary>
internal sealed class UniPerceiverMoeHostedService(UniPerceiverMoeRuntime runtime, UniPerceiverMoeOptions options) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var starting = runtime.StartAsync();
        if (!options.StartInBackground) await starting.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public Task StopAsync(CancellationToken cancellationToken) => runtime.StopAsync().AsTask();
}
