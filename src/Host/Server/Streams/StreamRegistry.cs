using UniPerceiverMoe.Host.Inputs;
using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using UniPerceiverMoe.Host.Hosting;
using UniPerceiverMoe.Host.Server.Metrics;
using UniPerceiverMoe.Streams.Flows;
using UniPerceiverMoe.Streams.Sources;
using UniPerceiverMoe.Streams.Tasks;

namespace UniPerceiverMoe.Host.Server.Streams;

/// <summary>What a client asks for when it starts a stream (POST /v1/streams).
/// <paramref name="Task"/>: caption (default), classify, watch, or several comma-separated ("caption,watch");
/// <paramref name="Labels"/> for classify, <paramref name="Queries"/> for watch, <paramref name="Texts"/> for match (ranked per window), <paramref name="Threshold"/> overrides
/// upmoe.streams.watch.threshold.</summary>
public sealed record StartStreamRequest(string? Source, string? Id = null, bool? Realtime = null, double? Fps = null, string? Task = null,
    IReadOnlyList<string>? Labels = null, IReadOnlyList<string>? Queries = null, double? Threshold = null,
    IReadOnlyList<string>? Texts = null);

/// <summary>
/// The server's streams: running ones (in the runtime's hub) and the last upmoe.server.kept-streams ended ones, so
/// the page and the API can still show how a stream ended. Invariant: at most one running stream per id; an ended
/// stream's id can be reused (the old entry is replaced).
/// </summary>
public sealed partial class StreamRegistry
{
    private readonly ConcurrentDictionary<string, StreamEntry> entries = new();
    private readonly ConcurrentQueue<StreamEntry> endedOrder = new();
    private readonly object gate = new();
    private readonly UniPerceiverMoeRuntime runtime;
    private readonly ServerSettings settings;
    private readonly StreamMetrics metrics;
    private int nextId;

    public StreamRegistry(UniPerceiverMoeRuntime runtime, ServerSettings settings, UpmoeMetrics serverMetrics)
    {
        this.runtime = runtime;
        this.settings = settings;
        metrics = new StreamMetrics(serverMetrics.Factory);
        serverMetrics.Registry.AddBeforeCollectCallback(() => metrics.Update(All));
    }

    public IReadOnlyCollection<StreamEntry> All => entries.Values.OrderBy(e => e.StartedAt).ToArray();

    public StreamEntry Get(string id) =>
        entries.TryGetValue(id, out var entry) ? entry : throw ApiException.NotFound($"no stream '{id}'");

    public async Task<StreamEntry> StartAsync(StartStreamRequest request, CancellationToken cancellation)
    {
        string source = request.Source?.Trim() is { Length: > 0 } s ? s : throw ApiException.BadRequest("'source' is required: a video file path or a URL ffmpeg can open");
        // Refused (403) before anything is opened: a path outside the allowed roots, a URL off the allow-list.
        if (settings.StreamSources is { } policy) source = policy.Check(source);
        var hub = runtime.Hub;
        double fps = request.Fps ?? hub.Settings.DecodeFps;
        if (fps is not (> 0 and <= 240)) throw ApiException.BadRequest($"'fps' must be in (0, 240] (got {fps})");
        bool realtime = request.Realtime ?? hub.Settings.Realtime;
        StreamTasks tasks;
        try
        {
            tasks = StreamTasks.Parse((request.Task ?? "caption").Split(','), request.Labels ?? [], request.Queries ?? [], hub.Settings, request.Threshold,
                request.Texts ?? []);
        }
        catch (ArgumentException e)
        {
            throw ApiException.BadRequest(e.Message);
        }
        var targets = await hub.TargetsAsync(tasks, cancellation).ConfigureAwait(false);
        FrameSource frames = source.Contains("://", StringComparison.Ordinal)
            ? FrameSources.Url(source, fps, realtime)
            : FrameSources.VideoFile(CheckFile(source), fps, realtime);
        lock (gate)
        {
            string id = request.Id ?? NewId();
            if (!IdPattern().IsMatch(id)) throw ApiException.BadRequest($"stream id '{id}' must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit");
            if (entries.TryGetValue(id, out var old) && old.State == StreamState.Running) throw ApiException.Conflict($"a stream named '{id}' is already running");
            var entry = new StreamEntry(id, source, new CaptionFeed(settings.RecentCaptions));
            var stream = hub.AddStream(id, entry.Tap(frames), tasks, targets, EventSinks.Callback(e =>
            {
                if (e is StreamCaption c) metrics.ObserveCaption(id, c.Latency);
                entry.OnEvent(e);
            }));
            if (old is not null) metrics.Remove(id);
            entries[id] = entry;
            _ = entry.RunAsync(stream, Forget);
            return entry;
        }
    }

    /// <summary>Asks a running stream to stop (its submitted windows still finish); false when it had already ended.</summary>
    public bool Stop(string id)
    {
        var entry = Get(id);
        if (entry.State != StreamState.Running) return false;
        entry.RequestStop();
        return true;
    }

    /// <summary>Keeps the last kept-streams ended entries; older ones (and their series) are dropped.</summary>
    private void Forget(StreamEntry ended)
    {
        endedOrder.Enqueue(ended);
        lock (gate)
            while (endedOrder.Count > settings.KeptStreams && endedOrder.TryDequeue(out var oldest))
                if (entries.TryRemove(new KeyValuePair<string, StreamEntry>(oldest.Id, oldest)))
                    metrics.Remove(oldest.Id);
    }

    private static string CheckFile(string path)
    {
        if (Directory.Exists(path)) throw new InputException(path, "is a directory, not a video");
        if (!File.Exists(path)) throw new InputException(path, "video not found");
        if (new FileInfo(path).Length == 0) throw new InputException(path, "the file is empty (0 bytes), not a video");
        return path;
    }

    private string NewId()
    {
        string id;
        do id = $"stream-{Interlocked.Increment(ref nextId)}"; while (entries.ContainsKey(id));
        return id;
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex IdPattern();
}
