using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Configuration;
using UniPerceiverMoe.Actors.Dispatch;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Memory;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Model;
using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Routing.TokenLevel;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.Model.Tokenization;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Engine;

/// <summary>
/// The engine: the model's experts owned by expert-group actors placed by the configured plan, sequence executors
/// that run everything else and dispatch every MoE linear to the groups, all children of one root actor named after
/// the engine, in an actor system of its own (<see cref="Start"/>) or a host's (<see cref="StartIn"/>). Thread-safe:
/// requests from any thread are spread over the sequence executors.
/// <code>
/// await using var engine = UniPerceiverEngine.Start(UpmoeConfig.Parse("upmoe.engine.checkpoint = model.pth"));
/// var caption = await engine.CaptionAsync(pixels);   // pixels [T, 3, 224, 224], preprocessed
/// </code>
/// </summary>
public sealed partial class UniPerceiverEngine : IUniPerceiverEngine, IAsyncDisposable
{
    private readonly IActorRef[] executors;
    /// <summary>Returns freed native memory to the OS whenever no request is in flight.</summary>
    private readonly IdleHeapTrimmer heapTrimmer;
    private readonly bool ownsModel;
    private readonly bool ownsSystem;
    private readonly Lazy<Task<VocabularyBank>> bank;
    private readonly ConcurrentDictionary<string, Lazy<Task<Tensor>>> labelFeatures = new();
    private readonly Lazy<ClipTokenizer> tokenizer;
    private int next;
    private int disposed;

    private UniPerceiverEngine(ActorSystem system, bool ownsSystem, string name, IActorRef root, IActorRef? expertHost,
        UniPerceiverMoeModel model, bool ownsModel, string checkpointPath,
        Lazy<ClipTokenizer> tokenizer, RouteTable routes, PlacementPlan plan, IReadOnlyDictionary<string, IActorRef> groups,
        IActorRef[] executors, EngineSettings settings, EngineCounters counters, EngineStartOptions options, DeviceAssignment devices)
    {
        Devices = devices;
        System = system;
        this.ownsSystem = ownsSystem;
        Name = name;
        Root = root;
        ExpertHost = expertHost;
        Model = model;
        this.ownsModel = ownsModel;
        CheckpointPath = checkpointPath;
        this.tokenizer = tokenizer;
        Routes = routes;
        Plan = plan;
        Groups = groups;
        this.executors = executors;
        Settings = settings;
        Counters = counters;
        heapTrimmer = new IdleHeapTrimmer(settings.NativeHeapTrimInterval, NativeHeap.Trim, counters.NativeHeapTrims,
            idleDelay: settings.NativeHeapTrimAfterIdle);
        if (settings.NativeHeapRetainFreed) NativeHeap.RetainFreedMemory();   // freed activations reused; the trimmer gives them back when idle
        // A constrained vocabulary is built in memory; with a checkpoint file the full bank is cached on disk (keyed by
        // its hash); a model given without one (random weights in benchmarks) gets its bank built in memory.
        bank = new Lazy<Task<VocabularyBank>>(() => RunAsync(runner =>
            options.CaptionVocabulary is { } words ? VocabularyBank.Build(runner, words.Distinct().ToArray(), progress: options.BankProgress)
            : string.IsNullOrEmpty(checkpointPath) ? VocabularyBank.Build(runner, progress: options.BankProgress)
            : VocabularyBankCache.LoadOrBuild(runner, checkpointPath, settings.ResolvedCacheDir, options.BankProgress, options.Log), "vocabulary bank", default));
    }

    /// <summary>The actor system name: equal on every node of a cluster (members must share it).</summary>
    public const string SystemName = "upmoe";

    /// <summary>The actor system the engine's actors run in: its own (<see cref="Start"/>) or the host's (<see cref="StartIn"/>).</summary>
    public ActorSystem System { get; }
    /// <summary>True when <see cref="System"/> is the engine's own (<see cref="Start"/>): disposing the engine terminates it.</summary>
    public bool OwnsSystem => ownsSystem;
    /// <inheritdoc/>
    public string Name { get; }
    /// <summary>The engine's root actor <c>/user/{Name}</c>: parent of its actors, and the peer other actors ask
    /// (<see cref="EngineRootProtocol"/>).</summary>
    public IActorRef Root { get; }
    /// <summary>The in-process expert host (<c>/user/{Name}/experts</c>); null when the groups are on a cluster.</summary>
    public IActorRef? ExpertHost { get; }
    /// <summary>The sequence executors (<c>/user/{Name}/sequence-executor-N</c>).</summary>
    public IReadOnlyList<IActorRef> Executors => executors;
    public UniPerceiverMoeModel Model { get; }
    public string CheckpointPath { get; }
    /// <summary>The CLIP tokenizer (loaded on first use: visual-only work needs no vocabulary file).</summary>
    public ClipTokenizer Tokenizer => tokenizer.Value;
    public RouteTable Routes { get; }
    public PlacementPlan Plan { get; }
    public IReadOnlyDictionary<string, IActorRef> Groups { get; }
    /// <summary>Where each expert group of <see cref="Plan"/> computes (upmoe.placement.devices). In cluster mode the
    /// groups live on expert nodes, which assign their own devices: here every group maps to upmoe.engine.device.</summary>
    public DeviceAssignment Devices { get; }
    public EngineSettings Settings { get; }
    public EngineCounters Counters { get; }

    /// <summary>The name of an engine whose options give none: its root actor is <c>/user/upmoe</c>.</summary>
    public const string DefaultName = "upmoe";

    /// <summary>Starts an engine in an actor system of its own (created from <paramref name="config"/>, terminated when
    /// the engine is disposed) from configuration (HOCON over hocon/reference.conf) and optional programmatic extras.</summary>
    public static UniPerceiverEngine Start(Config config, EngineStartOptions? options = null)
    {
        options ??= new EngineStartOptions();
        var prepared = Prepare(config, options);
        try
        {
            var system = Cluster.Security.RemoteTls.CreateActorSystem(SystemName, config);   // with Akka.Remote's TLS setup when enabled
            try
            {
                return Spawn(system, ownsSystem: true, config, options, prepared);
            }
            catch
            {
                system.Terminate().Wait(TimeSpan.FromSeconds(30));
                throw;
            }
        }
        catch
        {
            if (options.Model is null) prepared.Model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Starts an engine inside <paramref name="system"/>, which the caller owns (a host app's actor system): the
    /// engine's actors are children of its root actor <c>/user/{name}</c> (<see cref="EngineStartOptions.Name"/>), so
    /// several engines can share one system; disposing the engine stops them and leaves the system running. Settings
    /// come from <paramref name="config"/>; the system's own configuration must define the engine's dispatchers
    /// (hocon/reference.conf, e.g. as a fallback).
    /// </summary>
    public static UniPerceiverEngine StartIn(ActorSystem system, Config config, EngineStartOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(system);
        options ??= new EngineStartOptions();
        var prepared = Prepare(config, options);
        try
        {
            return Spawn(system, ownsSystem: false, config, options, prepared);
        }
        catch
        {
            if (options.Model is null) prepared.Model.Dispose();
            throw;
        }
    }

    private sealed record Prepared(UniPerceiverMoeModel Model, string Checkpoint, EngineSettings Settings, string Name);

    /// <summary>Validates the settings and the name, and loads the model (the slow part, before any actor starts).</summary>
    private static Prepared Prepare(Config config, EngineStartOptions options)
    {
        string name = options.Name ?? DefaultName;
        if (!ActorPath.IsValidPathElement(name))
            throw new ArgumentException($"engine name '{name}' is not a valid actor name (letters, digits, '-' and '_'; no leading '$').", nameof(options));
        var settings = EngineSettings.FromConfig(config);
        if (settings.TorchThreads > 0) set_num_threads(settings.TorchThreads);
        var checkpoint = options.CheckpointPath ?? settings.Checkpoint;
        if (options.Model is null && string.IsNullOrWhiteSpace(checkpoint))
            throw new ConfigurationException("upmoe.engine.checkpoint is not set: give the path of a .pth or .safetensors checkpoint.");
        // A cluster frontend (its groups reached through an external transport) holds the dense part only.
        var model = options.Model ?? LoadModel(checkpoint, settings, options.Log, denseOnly: options.ExpertTransport is not null);
        return new Prepared(model, checkpoint, settings, name);
    }

    /// <summary>Starts the engine's actors under its root actor in <paramref name="system"/>; on failure the root (and
    /// whatever started under it) is stopped again.</summary>
    private static UniPerceiverEngine Spawn(ActorSystem system, bool ownsSystem, Config config, EngineStartOptions options, Prepared prepared)
    {
        var (model, checkpoint, settings, name) = prepared;
        var routes = new RouteTable(model);
        var plan = options.Plan ?? PlacementPlanner.Plan(PlacementSettings.FromConfig(config), model.Config, routes);
        var tokenizer = new Lazy<ClipTokenizer>(() => options.Tokenizer ?? ClipTokenizer.Load(settings.Vocab.Length > 0 ? settings.Vocab : null));
        var counters = new EngineCounters();
        UniPerceiverEngine? engine = null;
        IActorRef root;
        try
        {
            root = system.ActorOf(Props.Create(() => new EngineRootActor(() => engine)), name);
        }
        catch (InvalidActorNameException e)
        {
            throw new ArgumentException($"an engine (or another actor) named '{name}' already runs in actor system '{system.Name}': give each engine its own name.", e);
        }
        try
        {
            IActorRef Child(Props props, string child) =>
                root.Ask<IActorRef>(new EngineRootProtocol.Spawn(props, child), TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
            IReadOnlyDictionary<string, IActorRef> groups;
            IExpertGroupTransport transport;
            IActorRef? expertHost = null;
            DeviceAssignment devices;
            if (options.ExpertTransport is { } external)
            {
                // Cluster mode: the groups live elsewhere (shard entities); none are started here.
                groups = new Dictionary<string, IActorRef>();
                transport = external(system, plan, model.Config);
                devices = DeviceAssignment.All(plan, settings.Device);
            }
            else
            {
                // The model (and so the sequence executors' dense part) is on upmoe.engine.device; groups may
                // compute on other devices, each merging its routes from the model's experts onto its own.
                var expertBytes = DeviceAssignment.ExpertBytes(model.Config);
                devices = DeviceAssignment.Balance(plan, PlacementSettings.FromConfig(config).DevicesOr(settings.Device), expertBytes);
                if (devices.Devices.Count > 1) options.Log?.Invoke(devices.Describe(plan, expertBytes));
                expertHost = Child(ExpertHostProtocol.Props(plan.Groups, _ => new ModelExpertWeights(model), devices, counters, options.Faults, settings.ExpertDispatcher,
                    settings.MergeCache(counters.MergeEvictions)), "experts");
                groups = expertHost.Ask<ExpertHostProtocol.Groups>(ExpertHostProtocol.GetGroups.Instance, TimeSpan.FromSeconds(30)).GetAwaiter().GetResult().ById;
                transport = new LocalGroupTransport(groups);
            }
            var client = new ExpertGroupClient(transport, settings.ReplicaPolicy, counters);
            var routing = RoutingSettings.FromConfig(config);
            var executors = Enumerable.Range(0, settings.SequenceExecutors)
                .Select(i => Child(SequenceExecutorProtocol.Props(
                    new UniPerceiverRunner(model, MoeExecutor(model, routing, plan, client, routes, counters, settings.FuseFfn, settings.FuseTail, settings.FuseLayer)), counters), $"sequence-executor-{i}"))
                .ToArray();
            options.Log?.Invoke(plan.Describe());
            engine = new UniPerceiverEngine(system, ownsSystem, name, root, expertHost, model, options.Model is null, checkpoint, tokenizer, routes, plan, groups,
                executors, settings, counters, options, devices);
            return engine;
        }
        catch
        {
            if (!ownsSystem)
            {
                try { root.GracefulStop(TimeSpan.FromSeconds(30)).Wait(TimeSpan.FromSeconds(30)); }
                catch (AggregateException) { /* the start failure below is the one to report */ }
            }
            throw;
        }
    }

    /// <summary>
    /// The MoE executor of one sequence executor. Attribute routing: the route dispatcher (stateless, could be shared).
    /// Token routing: a token-level executor per sequence executor (it holds a layer's gate decision between paired
    /// linears), dispatching to the groups; every assignment and drop is counted.
    /// </summary>
    private static IMoeLinearExecutor MoeExecutor(UniPerceiverMoeModel model, RoutingSettings routing, PlacementPlan plan,
        ExpertGroupClient client, RouteTable routes, EngineCounters counters, bool fuseFfn, bool fuseTail, bool fuseLayer)
    {
        if (routing.Strategy == RoutingStrategy.Attribute) return new ActorMoeExecutor(plan, client, routes, counters, fuseFfn, fuseTail, fuseLayer);
        var executor = new TokenLevelMoeExecutor(model, routing.Token, new ActorTokenExpertApplier(plan, client));
        executor.Dispatched += (site, dispatch) =>
        {
            if (site.Kind is not (MoeLinearKind.QkvProj or MoeLinearKind.Linear1)) return;   // paired sites reuse the decision
            counters.TokenAssignments.Add(dispatch.Assignments);
            counters.TokenDroppedAssignments.Add(dispatch.DroppedAssignments);
        };
        return executor;
    }

    private static UniPerceiverMoeModel LoadModel(string checkpoint, EngineSettings settings, Action<string>? log, bool denseOnly)
    {
        var config = ModelConfigResolver.Resolve(settings.ModelConfig, checkpoint);
        log?.Invoke($"loading {checkpoint} ({config.Layers} layers, hidden {config.Hidden}, {config.Experts} experts{(denseOnly ? "; dense part only, experts are on expert nodes" : "")})…");
        int lastDecile = -1;
        var progress = new Progress<double>(p =>
        {
            int decile = (int)(p * 10);
            if (decile != lastDecile) { lastDecile = decile; log?.Invoke($"  checkpoint {p:P0}"); }
        });
        return ModelLoader.Load(checkpoint, config, new Device(settings.Device), log is null ? null : progress, denseOnly);
    }

    /// <summary>Runs <paramref name="work"/> on the next sequence executor and returns its result.</summary>
    public async Task<T> RunAsync<T>(Func<UniPerceiverRunner, T> work, string description, CancellationToken cancellation)
    {
        var executor = executors[(int)((uint)Interlocked.Increment(ref next) % executors.Length)];
        heapTrimmer.Started();
        try
        {
            var reply = await executor.Ask<SequenceExecutorProtocol.Completed>(
                new SequenceExecutorProtocol.Execute(r => work(r), description, cancellation), cancellation).ConfigureAwait(false);
            return (T)reply.Result!;
        }
        finally
        {
            heapTrimmer.Finished();
        }
    }

    /// <summary>Stops the engine's actors (terminating its actor system when it owns it), then frees the bank, the
    /// cached label features and, when the engine loaded it, the model. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0) return;
        if (ownsSystem) await System.Terminate().ConfigureAwait(false);
        else if (!System.WhenTerminated.IsCompleted)
        {
            // The root stops after the messages queued before this one; its children stop after their current message.
            try { await Root.GracefulStop(TimeSpan.FromSeconds(30)).ConfigureAwait(false); }
            catch (Exception e) when (e is TaskCanceledException or AskTimeoutException) { /* the system is shutting down under us */ }
        }
        if (bank.IsValueCreated && bank.Value.IsCompletedSuccessfully) bank.Value.Result.Dispose();
        foreach (var lazy in labelFeatures.Values)
            if (lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully) lazy.Value.Result.Dispose();
        if (ownsModel) Model.Dispose();
    }
}
