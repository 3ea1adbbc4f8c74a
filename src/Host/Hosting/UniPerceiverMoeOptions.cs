using UniPerceiverMoe.Streams.Hub;
using Akka.Configuration;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Streams.Batching;

namespace UniPerceiverMoe.Host.Hosting;

/// <summary>How <see cref="UniPerceiverMoeServiceCollectionExtensions.AddUniPerceiverMoe(Microsoft.Extensions.DependencyInjection.IServiceCollection, Action{UniPerceiverMoeOptions})"/>
/// starts the embedded engine. Configuration is HOCON over hocon/reference.conf, layered (later wins):
/// <see cref="ConfigFile"/>, then <see cref="Hocon"/>, then <see cref="Config"/>.</summary>
public sealed class UniPerceiverMoeOptions
{
    /// <summary>The engine's name: its root actor is <c>/user/{Name}</c> and, with Akka.Hosting, its key in dependency
    /// injection (keyed services). Engines sharing an actor system need different names.</summary>
    public string Name { get; set; } = UniPerceiverEngine.DefaultName;

    /// <summary>A HOCON file (e.g. with upmoe.engine.checkpoint); null = none.</summary>
    public string? ConfigFile { get; set; }

    /// <summary>Inline HOCON, e.g. <c>upmoe.engine.checkpoint = "model.pth"</c>; null = none.</summary>
    public string? Hocon { get; set; }

    /// <summary>A parsed configuration; null = none.</summary>
    public Config? Config { get; set; }

    /// <summary>Programmatic extras for <see cref="UniPerceiverEngine.Start"/> (a model without a checkpoint file,
    /// a tokenizer, a placement plan). Its Log is replaced by <see cref="Log"/> when that is set.</summary>
    public EngineStartOptions? Engine { get; set; }

    /// <summary>Run a <see cref="Streams.CaptionStreamHub"/> over the engine (live caption streams). On by default.</summary>
    public bool Streams { get; set; } = true;

    /// <summary>Load the vocabulary bank while starting (the first caption then does not pay for it). On by default.</summary>
    public bool WarmVocabularyBank { get; set; } = true;

    /// <summary>Off (default): the host's start completes once the engine is ready and fails when it cannot start.
    /// On: the host starts at once and the engine loads behind it (a server answers /healthz and reports loading
    /// on /readyz meanwhile); a failure is reported by <see cref="UniPerceiverMoeRuntime.State"/>.</summary>
    public bool StartInBackground { get; set; }

    /// <summary>Progress lines (checkpoint loading, placement); null = silent.</summary>
    public Action<string>? Log { get; set; }

    /// <summary>Wraps the hub's window engine (the host's metrics time every batched engine forward with it).</summary>
    public Func<IWindowEngine, IWindowEngine>? WrapCaptioner { get; set; }

    /// <summary>The layered configuration over the defaults.</summary>
    public Config BuildConfig()
    {
        var config = ConfigFile is null ? UpmoeConfig.Reference : UpmoeConfig.LoadFile(ConfigFile);
        if (!string.IsNullOrWhiteSpace(Hocon)) config = ConfigurationFactory.ParseString(Hocon).WithFallback(config);
        if (Config is not null) config = Config.WithFallback(config);
        return config;
    }
}
