using UniPerceiverMoe.Streams.Settings;
using System.Collections.Concurrent;
using Akka;
using Akka.Actor;
using Akka.Streams;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.Streams.Batching;
using UniPerceiverMoe.Streams.Flows;
using UniPerceiverMoe.Streams.Sources;
using UniPerceiverMoe.Streams.Tasks;
using UniPerceiverMoe.Model.Tasks;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Streams.Hub;

/// <summary>
/// Runs many live streams over one engine. Streams are added and removed at run time; each runs its own graph
/// (<see cref="StreamFlows.Run"/>: caption, classify and watch heads over route-tagged windows) and all of them feed
/// one cross-stream micro-batcher that batches by route tag (<see cref="EngineFlows.RunEach{T}"/>), so windows of the
/// same tag from different streams share engine forwards, and different tags never do. A stream that fails (corrupt data, ffmpeg exit, unreachable URL, idle)
/// stops alone, is removed from the hub and faults its <see cref="CaptionStream.Completion"/>; the rest go on.
/// <code>
/// await using var hub = CaptionStreamHub.Start(engine, StreamSettings.FromConfig(config));
/// var cam = hub.AddStream("cam1", FrameSources.Url("rtsp://…", 30), CaptionSinks.Console(Console.Out));
/// </code>
/// </summary>
public sealed class CaptionStreamHub : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, CaptionStream> streams = new();
    private readonly ActorMaterializer materializer;
    private readonly WindowBatcher batcher;
    private readonly IWindowEngine engine;
    private readonly Device? device;

    /// <param name="system">Hosts the stream graphs (the engine's system in embedded use).</param>
    /// <param name="engine">Runs the micro-batches, one tagged forward each, and computes the heads' text targets.</param>
    /// <param name="device">Where window pixels are preprocessed (the engine's device; null = CPU).</param>
    public CaptionStreamHub(ActorSystem system, IWindowEngine engine, StreamSettings settings, Device? device = null)
    {
        this.engine = engine;
        Settings = settings.Validate();
        this.device = device;
        // Input buffers of one element at async boundaries: a window waits in the overload buffer, where the policy
        // applies, not in a hidden 16-element boundary buffer.
        materializer = system.Materializer(ActorMaterializerSettings.Create(system).WithInputBuffer(1, 1));
        batcher = new WindowBatcher(engine, settings, materializer);
    }

    /// <summary>A hub over <paramref name="engine"/>'s batched beam search.</summary>
    public static CaptionStreamHub Start(UniPerceiverEngine engine, StreamSettings settings, CaptionOptions? options = null) =>
        new(engine.System, new EngineWindows(engine, options), settings, new Device(engine.Settings.Device));

    public StreamSettings Settings { get; }

    /// <summary>The streams running now (ended ones are evicted with their state).</summary>
    public IReadOnlyCollection<CaptionStream> Streams => streams.Values.ToArray();

    /// <summary>Engine forwards run so far and the windows they carried, by route tag (the batch composition).</summary>
    public IReadOnlyDictionary<Actors.Engine.RouteTag, (long Forwards, long Windows)> ForwardsByRoute() => batcher.ForwardsByRoute();

    /// <summary>Starts a caption stream named <paramref name="id"/> (unique among running streams) whose captions go to
    /// <paramref name="sink"/>; the sink's task must complete when the sink has consumed everything.</summary>
    public CaptionStream AddStream(string id, FrameSource source, Sink<StreamCaption, Task> sink) =>
        Start(id, source, StreamTasks.CaptionOnly, stream => StreamFlows.Caption(id, source, Settings, stream.Stats, batcher, device, stream.StreamStopped)
            .ToMaterialized(sink, Keep.Both)
            .Run(materializer));

    /// <summary>
    /// Starts a stream named <paramref name="id"/> that runs <paramref name="tasks"/> on each window and sends their
    /// events (captions, classifications, alerts, matches) to <paramref name="sink"/>. The heads' text targets (labels,
    /// queries, match texts) are encoded first, so a text the engine cannot encode fails here, before the stream
    /// starts. <paramref name="memory"/>: where the stream remembers its windows for a text feed (task match with a feed).
    /// </summary>
    public async Task<CaptionStream> AddStreamAsync(string id, FrameSource source, StreamTasks tasks, Sink<IStreamEvent, Task> sink,
        CancellationToken cancellation = default, WindowMemory? memory = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        var targets = await TargetsAsync(tasks, cancellation).ConfigureAwait(false);
        return AddStream(id, source, tasks, targets with { Memory = memory }, sink);
    }

    /// <summary>The text targets <paramref name="tasks"/>' heads score windows against: class-name features of the labels
    /// (τ of video classification), retrieval-target features of the queries and of the match texts (τ of video
    /// retrieval); null for a task the stream does not run. No window memory: a text feed's caller adds its own.</summary>
    public async Task<StreamTargets> TargetsAsync(StreamTasks tasks, CancellationToken cancellation = default)
    {
        tasks.Validate();
        var labels = tasks.Classify
            ? await engine.TargetsAsync(tasks.Labels, EmbedTask.ClassNameTarget, EmbedTask.VideoClassification, cancellation).ConfigureAwait(false)
            : null;
        var queries = tasks.Watch
            ? await engine.TargetsAsync(tasks.Queries, EmbedTask.RetrievalTarget, EmbedTask.VideoRetrieval, cancellation).ConfigureAwait(false)
            : null;
        var texts = tasks.MatchTexts.Count > 0
            ? await engine.TargetsAsync(tasks.MatchTexts, EmbedTask.RetrievalTarget, EmbedTask.VideoRetrieval, cancellation).ConfigureAwait(false)
            : null;
        return new StreamTargets(labels, queries, texts);
    }

    /// <summary><see cref="AddStreamAsync"/> with the targets already computed (<see cref="TargetsAsync"/>).</summary>
    public CaptionStream AddStream(string id, FrameSource source, StreamTasks tasks, StreamTargets targets, Sink<IStreamEvent, Task> sink)
    {
        tasks.Validate();
        targets.CheckFits(tasks);   // the targets fit the tasks (fails now, not at run time)
        return Start(id, source, tasks, stream => StreamFlows.Run(id, source, tasks, targets, Settings, stream.Stats, batcher, device, stream.StreamStopped)
            .ToMaterialized(sink, Keep.Both)
            .Run(materializer));
    }

    /// <summary>
    /// Runs a text feed (<paramref name="lines"/>, named <paramref name="feed"/>) against the windows that streams
    /// started with <paramref name="memory"/> remember (<see cref="TextFeedFlows.Match"/>), sending one
    /// <see cref="TextMatch"/> per text to <paramref name="sink"/>. The kill switch stops the feed; the task completes
    /// when the sink has consumed everything (or fails with the feed's error, naming it).
    /// </summary>
    public (UniqueKillSwitch Stop, Task Completion) RunTextFeed(string feed, Source<string, NotUsed> lines, WindowMemory memory, Sink<TextMatch, Task> sink)
    {
        var (stop, done) = lines
            .ViaMaterialized(KillSwitches.Single<string>(), Keep.Right)
            .Via(TextFeedFlows.Match(feed, engine, memory, Settings))
            .ToMaterialized(sink, Keep.Both)
            .Run(materializer);
        return (stop, done.ContinueWith(t => t.IsFaulted
            ? Task.FromException(new CaptionStreamException("text-feed", feed, t.Exception!.GetBaseException()))
            : t, TaskScheduler.Default).Unwrap());
    }

    private CaptionStream Start(string id, FrameSource source, StreamTasks tasks, Func<CaptionStream, (UniqueKillSwitch, Task)> run)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        var stream = new CaptionStream(id, source, tasks);
        if (!streams.TryAdd(id, stream)) throw new ArgumentException($"a stream named '{id}' is already running", nameof(id));
        try
        {
            var (killSwitch, done) = run(stream);
            stream.Run(killSwitch, done, () => streams.TryRemove(new KeyValuePair<string, CaptionStream>(id, stream)));
            return stream;
        }
        catch
        {
            streams.TryRemove(new KeyValuePair<string, CaptionStream>(id, stream));
            throw;
        }
    }

    /// <summary>Starts a stream whose captions are passed to <paramref name="onCaption"/> (called in order, one at a time).</summary>
    public CaptionStream AddStream(string id, FrameSource source, Action<StreamCaption> onCaption) =>
        AddStream(id, source, CaptionSinks.Callback(onCaption));

    /// <summary>Stops the stream named <paramref name="id"/>; false when no such stream is running.</summary>
    public bool RemoveStream(string id)
    {
        if (!streams.TryGetValue(id, out var stream)) return false;
        stream.Stop();
        return true;
    }

    /// <summary>Stops every stream, waits for them to settle, then stops the batcher and the graphs.</summary>
    public async ValueTask DisposeAsync()
    {
        var running = streams.Values.ToArray();
        foreach (var s in running) s.Stop();
        foreach (var s in running)
        {
            try { await s.Completion.ConfigureAwait(false); }
            catch (CaptionStreamException) { /* reported through the stream's own Completion */ }
        }
        await batcher.DisposeAsync().ConfigureAwait(false);
        materializer.Shutdown();
    }
}
