using UniPerceiverMoe.Host.Inputs;
using UniPerceiverMoe.Streams.Settings;
using UniPerceiverMoe.Streams.Hub;
using Akka.Actor;
using Akka.Configuration;
using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Tokenization;
using UniPerceiverMoe.Streams;
using UniPerceiverMoe.Streams.Batching;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Host.Hosting;

/// <summary>Where an embedded engine is in its life.</summary>
public enum RuntimeState
{
    Created,
    Starting,
    Ready,
    Failed,
    Stopped,
}

/// <summary>
/// The embedded engine of a host app and its caption-stream hub, started by the hosted service of
/// <see cref="UniPerceiverMoeServiceCollectionExtensions.AddUniPerceiverMoe(Microsoft.Extensions.DependencyInjection.IServiceCollection, Action{UniPerceiverMoeOptions})"/>.
/// Invariant: <see cref="Engine"/> and <see cref="Hub"/> are usable exactly while <see cref="State"/> is Ready; the
/// runtime owns both and disposes them (hub first: its streams settle before the engine stops) in <see cref="StopAsync"/>.
/// </summary>
public sealed class UniPerceiverMoeRuntime(UniPerceiverMoeOptions options)
{
    private readonly object gate = new();
    private readonly TaskCompletionSource ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? starting;
    private UniPerceiverEngine? engine;
    private CaptionStreamHub? hub;
    private volatile RuntimeState state = RuntimeState.Created;

    public RuntimeState State => state;

    /// <summary>Why the engine could not start (one line), when <see cref="State"/> is Failed.</summary>
    public string? Error { get; private set; }

    /// <summary>The configuration the engine was started from (set once starting).</summary>
    public Config? Config { get; private set; }

    /// <summary>Completes when the engine is ready; faults with the start failure.</summary>
    public Task WhenReady => ready.Task;

    public UniPerceiverEngine Engine => state == RuntimeState.Ready && engine is not null ? engine : throw NotReady();

    /// <summary>The caption-stream hub (only with <see cref="UniPerceiverMoeOptions.Streams"/>).</summary>
    public CaptionStreamHub Hub => state == RuntimeState.Ready && hub is not null ? hub
        : throw (options.Streams ? NotReady() : new InvalidOperationException("caption streams are off (UniPerceiverMoeOptions.Streams)."));

    /// <summary>The engine when it is ready, else null (for metrics, which must never throw).</summary>
    public UniPerceiverEngine? EngineIfReady => state == RuntimeState.Ready ? engine : null;

    public CaptionStreamHub? HubIfReady => state == RuntimeState.Ready ? hub : null;

    /// <summary>Starts the engine once, in an actor system of its own (later calls return the same task); the task
    /// completes when it is ready.</summary>
    public Task StartAsync() => Start((config, start) => EngineLauncher.Start(config, start));

    /// <summary>Starts the engine once inside <paramref name="system"/> (a host's, which the runtime never terminates);
    /// <paramref name="proxy"/>: the host's expert-group region proxy in cluster mode (null = started by the engine).
    /// The engine's settings are the options' configuration, except the transport keys, which are the system's.</summary>
    public Task StartInAsync(ActorSystem system, IActorRef? proxy = null) =>
        Start((config, start) => EngineLauncher.StartIn(system, WithSystemTransport(config, system.Settings.Config), start, proxy));

    private Task Start(Func<Config, EngineStartOptions, UniPerceiverEngine> launch)
    {
        lock (gate)
        {
            if (state == RuntimeState.Stopped) throw new ObjectDisposedException(nameof(UniPerceiverMoeRuntime));
            starting ??= Task.Run(() => StartCoreAsync(launch));
            return starting;
        }
    }

    /// <summary>The remote transport keys the engine reads (frame size, advertised host, TLS) as the running system
    /// has them: the host's remoting configuration wins over the options' defaults.</summary>
    private static Config WithSystemTransport(Config config, Config system)
    {
        const string tcp = "akka.remote.dot-netty.tcp";
        var lines = new List<string>();
        if (system.GetByteSize($"{tcp}.maximum-frame-size") is { } frame) lines.Add($"{tcp}.maximum-frame-size = {frame}b");
        foreach (var key in new[] { "hostname", "public-hostname" })
            if (system.GetString($"{tcp}.{key}", "") is { Length: > 0 } value) lines.Add($"{tcp}.{key} = {UpmoeConfig.Quote(value)}");
        lines.Add($"{tcp}.enable-ssl = {(system.GetBoolean($"{tcp}.enable-ssl", false) ? "on" : "off")}");
        return ConfigurationFactory.ParseString(string.Join("\n", lines)).WithFallback(config);
    }

    private async Task StartCoreAsync(Func<Config, EngineStartOptions, UniPerceiverEngine> launch)
    {
        state = RuntimeState.Starting;
        try
        {
            var config = options.BuildConfig();
            Config = config;
            var streamSettings = options.Streams ? StreamSettings.FromConfig(config) : null;
            var start = (options.Engine ?? new EngineStartOptions()) with { Log = options.Log ?? options.Engine?.Log, Name = options.Name };
            if (start.Tokenizer is null && start.Model is null && LimitedTokenizer(config, start.CheckpointPath) is { } limited) start = start with { Tokenizer = limited };
            var started = launch(config, start);
            engine = started;
            if (options.WarmVocabularyBank) await started.VocabularyBankAsync().ConfigureAwait(false);
            if (streamSettings is not null)
            {
                IWindowEngine captioner = new EngineWindows(started);
                if (options.WrapCaptioner is { } wrap) captioner = wrap(captioner);
                hub = new CaptionStreamHub(started.System, captioner, streamSettings, new Device(started.Settings.Device));
            }
            state = RuntimeState.Ready;                     // StopAsync waits for this task, so it cannot interleave
            options.Log?.Invoke("engine ready");
            ready.TrySetResult();
        }
        catch (Exception e)
        {
            Error = Host.Inputs.InputErrors.OneLine(Host.Inputs.InputErrors.Unwrap(e).Message);
            lock (gate) if (state == RuntimeState.Starting) state = RuntimeState.Failed;
            ready.TrySetException(e);
            await DisposeStartedAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A tokenizer that refuses texts longer than the model's text positions (instead of cutting them).
    /// Null without a checkpoint: the engine's start then reports the missing setting.</summary>
    private static ClipTokenizer? LimitedTokenizer(Config config, string? checkpointOverride)
    {
        var settings = EngineSettings.FromConfig(config);
        string? checkpoint = checkpointOverride ?? settings.Checkpoint;
        if (string.IsNullOrWhiteSpace(checkpoint)) return null;
        var model = ModelConfigResolver.Resolve(settings.ModelConfig, checkpoint);
        return ClipTokenizer.Load(settings.Vocab.Length > 0 ? settings.Vocab : null, new ClipTokenizerLimits(MaxTokens: model.TextPositions));
    }

    /// <summary>Stops streams (they settle), then the engine. Waits for a start in progress. Idempotent.</summary>
    public async ValueTask StopAsync()
    {
        Task? pending;
        lock (gate)
        {
            if (state == RuntimeState.Stopped) return;
            pending = starting;
        }
        if (pending is not null)
        {
            try { await pending.ConfigureAwait(false); }
            catch (Exception) { /* reported by State, Error and WhenReady */ }
        }
        lock (gate) state = RuntimeState.Stopped;
        await DisposeStartedAsync().ConfigureAwait(false);
    }

    private async Task DisposeStartedAsync()
    {
        var (h, e) = (hub, engine);
        (hub, engine) = (null, null);
        if (h is not null) await h.DisposeAsync().ConfigureAwait(false);
        if (e is not null) await e.DisposeAsync().ConfigureAwait(false);
    }

    private InvalidOperationException NotReady() => new EngineNotReadyException(state, Error);
}

/// <summary>The engine was asked for while it is not ready (loading, failed or stopped).</summary>
public sealed class EngineNotReadyException(RuntimeState state, string? error)
    : InvalidOperationException(state switch
    {
        RuntimeState.Failed => $"the engine failed to start: {error}",
        RuntimeState.Stopped => "the engine has stopped",
        _ => "the engine is still starting (see /readyz)",
    })
{
    public RuntimeState State { get; } = state;
}
