using System.Runtime.CompilerServices;
using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Configuration;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Actors.Engine;

namespace UniPerceiverMoe.Host.Hosting;

/// <summary>The <see cref="ActorRegistry"/> key of the root actor (<c>/user/{name}</c>) of an engine added by
/// <see cref="UniPerceiverMoeAkkaHostingExtensions.WithUniPerceiverMoe(AkkaConfigurationBuilder, Action{UniPerceiverMoeOptions})"/>
/// (engines added with a key type of their own are registered under that type). Ask it with
/// <see cref="EngineRootProtocol"/> messages.</summary>
public sealed class UniPerceiverMoeEngineKey;

/// <summary>The <see cref="ActorRegistry"/> key of the expert-group shard-region proxy of a frontend engine (cluster
/// mode), registered through Akka.Cluster.Hosting.</summary>
public sealed class UniPerceiverMoeExpertRegionKey;

/// <summary>
/// Runs engines inside a host app's own actor system (Akka.Hosting): one <c>ActorSystem</c>, one thread pool, one
/// remoting port, one cluster. The engine starts with the actor system (after the actors registered before it, before
/// those registered after it, unless <see cref="UniPerceiverMoeOptions.StartInBackground"/>) with the same loading,
/// progress and failure behaviour as <see cref="UniPerceiverMoeServiceCollectionExtensions.AddUniPerceiverMoe(IServiceCollection, Action{UniPerceiverMoeOptions})"/>,
/// and stops (streams settled, actors stopped, model freed) in the system's coordinated shutdown.
/// <code>
/// builder.Services.AddUniPerceiverMoeEngines();            // IUniPerceiverEngine in DI
/// builder.Services.AddAkka("my-app", akka => akka
///     .WithUniPerceiverMoe(o => o.Hocon = "upmoe.engine.checkpoint = \"model.pth\"")
///     .WithActors((system, registry, resolver) => registry.Register&lt;Captioner&gt;(system.ActorOf(resolver.Props&lt;Captioner&gt;(), "captioner"))));
/// </code>
/// Cluster mode: when the host clusters (<c>WithClustering</c> called before this, or akka.actor.provider = cluster
/// in the options' configuration) the engine is a frontend of that cluster: its expert-group region proxy is started
/// by Akka.Cluster.Hosting (<see cref="UniPerceiverMoeExpertRegionKey"/>) and the actor system's roles must include
/// upmoe.cluster.frontend-role. The system's name must then be the expert nodes' (<see cref="UniPerceiverEngine.SystemName"/>).
/// </summary>
public static class UniPerceiverMoeAkkaHostingExtensions
{
    /// <summary>Engines added per builder, by name (the builder's delegate runs when the service provider first needs
    /// the actor system, after the service collection is built, so DI finds them here).</summary>
    private static readonly ConditionalWeakTable<AkkaConfigurationBuilder, EngineDirectory> directories = new();

    /// <summary>Adds an engine whose root actor is registered under <see cref="UniPerceiverMoeEngineKey"/>.</summary>
    public static AkkaConfigurationBuilder WithUniPerceiverMoe(this AkkaConfigurationBuilder builder, Action<UniPerceiverMoeOptions> configure) =>
        builder.WithUniPerceiverMoe<UniPerceiverMoeEngineKey>(configure);

    /// <summary>Adds an engine configured from a configuration section (appsettings.json, environment) as
    /// <see cref="UniPerceiverMoeServiceCollectionExtensions.AddUniPerceiverMoe(IServiceCollection, Microsoft.Extensions.Configuration.IConfiguration, Action{UniPerceiverMoeOptions}?)"/>
    /// reads it: scalar keys are HOCON keys under <c>upmoe</c>, <c>config-file</c> names a HOCON file.</summary>
    public static AkkaConfigurationBuilder WithUniPerceiverMoe(this AkkaConfigurationBuilder builder, Microsoft.Extensions.Configuration.IConfiguration section,
        Action<UniPerceiverMoeOptions>? configure = null) =>
        builder.WithUniPerceiverMoe<UniPerceiverMoeEngineKey>(o =>
        {
            o.ConfigFile = section["config-file"];
            o.Hocon = UniPerceiverMoeServiceCollectionExtensions.HoconOf(section);
            configure?.Invoke(o);
        });

    /// <summary>Adds an engine whose root actor is registered under <typeparamref name="TKey"/> (one key type and one
    /// <see cref="UniPerceiverMoeOptions.Name"/> per engine when several share the actor system).</summary>
    public static AkkaConfigurationBuilder WithUniPerceiverMoe<TKey>(this AkkaConfigurationBuilder builder, Action<UniPerceiverMoeOptions> configure)
    {
        var options = new UniPerceiverMoeOptions();
        configure(options);
        var config = options.BuildConfig();                 // a bad config file or HOCON fails here, naming the file
        var directory = directories.GetValue(builder, _ => new EngineDirectory());
        bool cluster = EngineLauncher.IsClusterProvider(config) || builder.ActorRefProvider.HasValue && builder.ActorRefProvider.Value is ProviderSelection.Cluster;
        var runtime = new UniPerceiverMoeRuntime(options);
        directory.Add(options.Name, runtime, cluster);

        // The engine's dispatchers, serializer and transport defaults, behind everything the host configured (its
        // logging stays its own: the engine's stderr logger is for the CLI).
        builder.AddHocon(SystemFallback(config), HoconAddMode.Append);
        if (cluster)
        {
            var settings = ClusterSettings.FromConfig(config);
            builder.WithShardRegionProxy<UniPerceiverMoeExpertRegionKey>(ExpertShardProtocol.TypeName, settings.ExpertRole,
                new ExpertGroupSharding.GroupMessageExtractor(settings.Shards));
        }
        builder.WithActors(async (system, registry) =>
        {
            var proxy = cluster ? await registry.GetAsync<UniPerceiverMoeExpertRegionKey>().ConfigureAwait(false) : null;
            CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseServiceStop, $"upmoe-engine-{options.Name}", async () =>
            {
                await runtime.StopAsync().ConfigureAwait(false);
                return Akka.Done.Instance;
            });
            var started = runtime.StartInAsync(system, proxy).ContinueWith(t =>
            {
                if (t.IsCompletedSuccessfully) registry.Register<TKey>(runtime.Engine.Root);
                return t;
            }, TaskScheduler.Default).Unwrap();
            if (!options.StartInBackground) await started.ConfigureAwait(false);
        });
        return builder;
    }

    /// <summary>
    /// Makes the engines of the app's actor system (<see cref="WithUniPerceiverMoe(AkkaConfigurationBuilder, Action{UniPerceiverMoeOptions})"/>)
    /// resolvable: <see cref="IUniPerceiverEngine"/> and <see cref="UniPerceiverMoeRuntime"/> (the first engine added),
    /// and both as keyed services by engine name. Akka.Hosting configures the actor system after the service
    /// collection is built, so this registration has to be made on the collection itself.
    /// </summary>
    public static IServiceCollection AddUniPerceiverMoeEngines(this IServiceCollection services)
    {
        services.TryAddSingleton(sp => Directory(sp).Default());
        services.TryAddSingleton<IUniPerceiverEngine>(sp => new HostedEngine(sp.GetRequiredService<UniPerceiverMoeRuntime>()));
        services.TryAddKeyedSingleton(KeyedService.AnyKey, (sp, key) => Directory(sp).Get(key));
        services.TryAddKeyedSingleton<IUniPerceiverEngine>(KeyedService.AnyKey, (sp, key) => new HostedEngine(Directory(sp).Get(key)));
        return services;
    }

    private static EngineDirectory Directory(IServiceProvider services)
    {
        var builder = services.GetRequiredService<AkkaConfigurationBuilder>();   // runs the AddAkka delegate once
        return directories.TryGetValue(builder, out var directory) ? directory
            : throw new InvalidOperationException("no UniPerceiver-MoE engine in this app's actor system: call WithUniPerceiverMoe in AddAkka.");
    }

    /// <summary>What the actor system needs from the engine's configuration: all of it as a fallback, except the
    /// logging keys, which are reset to Akka's defaults so that the host's own logging applies.</summary>
    private static Config SystemFallback(Config config)
    {
        var akka = ConfigurationFactory.Default();
        string loggers = string.Join(", ", (akka.GetStringList("akka.loggers") ?? []).Select(l => $"\"{l}\""));
        return ConfigurationFactory.ParseString($"""
            akka.loggers = [{loggers}]
            akka.loglevel = {akka.GetString("akka.loglevel", "INFO")}
            akka.stdout-loglevel = {akka.GetString("akka.stdout-loglevel", "WARNING")}
            """).WithFallback(config);
    }

    /// <summary>The engines of one actor system by name, in the order they were added.</summary>
    private sealed class EngineDirectory
    {
        private readonly List<(string Name, UniPerceiverMoeRuntime Runtime)> engines = [];
        private bool clusterEngine;

        public void Add(string name, UniPerceiverMoeRuntime runtime, bool cluster)
        {
            lock (engines)
            {
                if (engines.Any(e => e.Name == name))
                    throw new ArgumentException($"an engine named '{name}' is already in this actor system: give each engine its own UniPerceiverMoeOptions.Name.");
                if (cluster && clusterEngine)
                    throw new ArgumentException($"engine '{name}': only one cluster frontend engine can run in an actor system (they share the expert-group shard region).");
                clusterEngine |= cluster;
                engines.Add((name, runtime));
            }
        }

        public UniPerceiverMoeRuntime Default()
        {
            lock (engines) return engines.Count > 0 ? engines[0].Runtime : throw new InvalidOperationException("no UniPerceiver-MoE engine was added (WithUniPerceiverMoe).");
        }

        public UniPerceiverMoeRuntime Get(object? key)
        {
            lock (engines)
                return engines.FirstOrDefault(e => Equals(e.Name, key)).Runtime
                    ?? throw new InvalidOperationException($"no UniPerceiver-MoE engine named '{key}' (engines: {string.Join(", ", engines.Select(e => e.Name))}).");
        }
    }
}
