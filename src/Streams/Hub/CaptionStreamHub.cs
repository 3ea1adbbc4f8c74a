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
using static TorchSharp.torch;

namespace UniPerceiverMoe.Streams;

/// <summary>
/// Runs many caption streams over one engine. Streams are added and removed at run time; each runs its own graph
/// (<see cref="StreamFlows.Caption"/>) and all of them feed one cross-stream micro-batcher, built on the engine's
/// caption flow stage (<see cref="EngineFlows.CaptionEach{T}"/>), so windows from different streams share engine calls. A stream that fails (corrupt data, ffmpeg exit, unreachable URL, idle)
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
    private readonly CaptionBatcher batcher;
    private readonly Device? device;

    /// <param name="system">Hosts the stream graphs (the engine's system in embedded use).</param>
    /// <param name="captioner">Captions the micro-batches.</param>
    /// <param name="device">Where window pixels are preprocessed (the engine's device; null = CPU).</param>
    public CaptionStreamHub(ActorSystem system, IWindowCaptioner captioner, StreamSettings settings, Device? device = null)
    {
        Settings = settings.Validate();
        this.device = device;
        // Input buffers of one element at async boundaries: a window waits in the overload buffer, where the policy
        // applies, not in a hidden 16-element boundary buffer.
        materializer = system.Materializer(ActorMaterializerSettings.Create(system).WithInputBuffer(1, 1));
        batcher = new CaptionBatcher(captioner, settings, materializer);
    }

    /// <summary>A hub over <paramref name="engine"/>'s batched beam search.</summary>
    public static CaptionStreamHub Start(UniPerceiverEngine engine, StreamSettings settings, CaptionOptions? options = null) =>
        new(engine.System, new EngineCaptioner(engine, options), settings, new Device(engine.Settings.Device));

    public StreamSettings Settings { get; }

    /// <summary>The streams running now (ended ones are evicted with their state).</summary>
    public IReadOnlyCollection<CaptionStream> Streams => streams.Values.ToArray();

    /// <summary>Starts a stream named <paramref name="id"/> (unique among running streams) whose captions go to
    /// <paramref name="sink"/>; the sink's task must complete when the sink has consumed everything.</summary>
    public CaptionStream AddStream(string id, FrameSource source, Sink<StreamCaption, Task> sink)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        var stream = new CaptionStream(id, source);
        if (!streams.TryAdd(id, stream)) throw new ArgumentException($"a stream named '{id}' is already running", nameof(id));
        try
        {
            var (killSwitch, done) = StreamFlows.Caption(id, source, Settings, stream.Stats, batcher, device, stream.StreamStopped)
                .ToMaterialized(sink, Keep.Both)
                .Run(materializer);
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
