using UniPerceiverMoe.Host.Inputs;
using UniPerceiverMoe.Streams.Settings;
using UniPerceiverMoe.Streams.Hub;
using System.CommandLine;
using System.Globalization;
using Akka.Configuration;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Host.Cli.Demo;
using UniPerceiverMoe.Demo.Synthetic;
using UniPerceiverMoe.Demo.Training;
using UniPerceiverMoe.Streams;
using UniPerceiverMoe.Streams.Flows;
using UniPerceiverMoe.Streams.Sources;
using UniPerceiverMoe.Streams.Tasks;

namespace UniPerceiverMoe.Host.Cli.Commands;

/// <summary>
/// <c>upmoe demo</c>: the main job end to end on the embedded engine. A generated live camera shows coloured shapes
/// that move, change colour, appear or disappear; the stream path (windows → micro-batcher → expert-group actors →
/// beam search over the demo vocabulary) captions each scene as it plays, next to the ground truth. With
/// <c>--task watch</c> the same camera runs the watch task instead (<see cref="WatchDemo"/>): alerts next to the scene on
/// screen, then their precision and recall against the scenes. The demo model ships with upmoe (<see cref="DemoModelLocator"/>); without it, it is trained into the cache on first run.
/// </summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Demo model directory (default: the shipped demo model, else <cache>/demo-model-r2, trained there on first run)", HelpName = "DIR" };
        var clips = new Option<int>("--clips") { Description = "Scenes the live camera plays (about 4.3 s each)", HelpName = "N", DefaultValueFactory = _ => 8 };
        var seed = new Option<long>("--seed") { Description = "Seed of the scenes (different from the training clips)", DefaultValueFactory = _ => 2026 };
        var fast = new Option<bool>("--fast") { Description = "Play as fast as the engine captions instead of in real time" };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "Cache directory; default $UPMOE_CACHE, then ~/.cache/upmoe", HelpName = "DIR" };
        var threads = new Option<int>("--threads") { Description = "Torch intra-op threads", DefaultValueFactory = _ => 2 };
        var json = new Option<bool>("--json") { Description = "Print one JSON line per caption (watch: per alert event, then the figures)" };
        var task = new Option<string>("--task")
        {
            Description = "caption: caption each scene; watch: alert on standing --query texts and score the alerts against the scenes shown",
            DefaultValueFactory = _ => "caption",
        };
        task.AcceptOnlyFromAmong("caption", "watch");
        var queries = new Option<string[]>("--query")
        {
            Description = $"A watch query in the demo grammar's words (repeatable; default: {string.Join("; ", WatchDemo.DefaultQueries)})",
            HelpName = "TEXT",
        };
        var vocab = new Option<string?>("--vocab") { Description = "CLIP BPE vocabulary (default upmoe.engine.vocab: $UPMOE_CLIP_VOCAB, then the cache)", HelpName = "PATH" };
        var threshold = new Option<double?>("--threshold") { Description = "Cosine similarity at which a watch alert starts (default upmoe.streams.watch.threshold)" };
        var command = new Command("demo", "Caption (or watch) a generated live video stream with the trained demo model (embedded engine)")
        {
            model, clips, seed, fast, cacheDir, threads, json, task, queries, threshold, vocab,
        };
        command.Validators.Add(r =>
        {
            if (r.GetValue(task) != "watch" && (r.GetResult(queries) is { Implicit: false } || r.GetResult(threshold) is { Implicit: false }))
                r.AddError("--query and --threshold need --task watch.");
        });
        command.SetAction(async (parse, cancellation) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            try
            {
                TorchSharp.torch.set_num_threads(Math.Max(1, parse.GetValue(threads)));
                var cache = parse.GetValue(cacheDir) ?? DefaultCacheDir;
                var dir = parse.GetValue(model) ?? DemoModelLocator.Find(cache) ?? DemoModelLocator.Cached(cache);
                var watch = parse.GetValue(task) == "watch"
                    ? new WatchRequest(parse.GetValue(queries) is { Length: > 0 } q ? q : WatchDemo.DefaultQueries, parse.GetValue(threshold))
                    : null;
                _ = watch?.Queries.Select(SceneQuery.Parse).ToArray();   // a query without ground truth fails before any training
                await EnsureModelAsync(dir, parse.GetValue(threads), output, error, cancellation).ConfigureAwait(false);
                return await RunAsync(dir, cache, parse.GetValue(clips), parse.GetValue(seed), !parse.GetValue(fast), parse.GetValue(json), watch,
                    parse.GetValue(vocab), output, error, cancellation).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                error.WriteLine("demo: stopped");             // Ctrl+C is no failure, during training or captioning
                return ExitCodes.Stopped;
            }
            catch (Exception e)
            {
                var (code, line) = CliErrors.Describe(e, "demo");
                error.WriteLine(CliErrors.Prefix + line);
                return code;
            }
        });
        return command;
    }

    private static string DefaultCacheDir => EngineSettings.FromConfig(UpmoeConfig.Reference).ResolvedCacheDir;

    /// <summary>The demo model a command uses when given none (the shipped one, else one trained into the cache),
    /// said on one stderr line; fails naming where it looked.</summary>
    internal static string DefaultModel(string? cacheDir, TextWriter error)
    {
        string cache = cacheDir ?? DefaultCacheDir;
        string directory = DemoModelLocator.Find(cache) ?? throw new InputException("--model",
            $"no demo model in {DemoModelLocator.Shipped} or {DemoModelLocator.Cached(cache)} (run 'upmoe demo' or 'upmoe train-demo --out {DemoModelLocator.Cached(cache)}')");
        error.WriteLine(DemoModelLocator.Notice(directory));
        return directory;
    }

    /// <summary>Trains the demo model into <paramref name="dir"/> with train-demo's defaults unless it is there.</summary>
    private static async Task EnsureModelAsync(string dir, int threads, TextWriter output, TextWriter error, CancellationToken cancellation)
    {
        if (File.Exists(Path.Combine(dir, DemoModelFiles.ModelFile)) && File.Exists(Path.Combine(dir, DemoModelFiles.ManifestFile))) return;
        error.WriteLine($"demo: no demo model in {dir}: training one now (first run only; about 30 minutes on 2 cores)…");
        int code = await Program.InvokeAsync(["train-demo", "--out", dir, "--threads", threads.ToString(CultureInfo.InvariantCulture)],
            error, error, cancellation).ConfigureAwait(false);
        cancellation.ThrowIfCancellationRequested();       // Ctrl+C: train-demo said "stopped"; so does demo
        if (code != 0) throw new InvalidOperationException($"training the demo model failed (exit {code}); see above");
    }

    /// <summary>The watch task's queries and threshold (null: upmoe.streams.watch.threshold).</summary>
    private sealed record WatchRequest(IReadOnlyList<string> Queries, double? Threshold);

    private static async Task<int> RunAsync(string dir, string cache, int clipCount, long seed, bool realtime, bool json, WatchRequest? watch,
        string? vocab, TextWriter output, TextWriter error, CancellationToken cancellation)
    {
        if (clipCount < 1) throw new InputException("--clips", $"must be at least 1 (got {clipCount})");
        var manifest = DemoManifest.FromJsonFile(Path.Combine(dir, DemoModelFiles.ManifestFile));
        var layout = manifest.Video.ToOptions();
        var scenes = new SyntheticVideoGenerator(layout).SampleMany(seed, 0, clipCount);
        var truth = scenes.Select(CaptionGrammar.Caption).ToArray();
        var hop = TimeSpan.FromSeconds(layout.TotalFrames / (double)layout.Fps);
        var config = UpmoeConfig.Parse(string.Join("\n",
                $"upmoe.engine.checkpoint = {UpmoeConfig.Quote(Path.Combine(dir, DemoModelFiles.ModelFile))}",
                $"upmoe.engine.cache-dir = {UpmoeConfig.Quote(cache)}",
                vocab is null ? "" : $"upmoe.engine.vocab = {UpmoeConfig.Quote(vocab)}",
                $"upmoe.streams.window = {layout.FramesPerClip}",
                $"upmoe.streams.stride = {layout.Stride * 30 / layout.Fps}",
                $"upmoe.streams.hop = {hop.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture)}ms",
                $"upmoe.streams.realtime = {(realtime ? "on" : "off")}",
                // --fast: the generated camera waits for the engine (it is in-process, not live), so no window is dropped.
                realtime ? "" : "upmoe.streams.overload = backpressure"));
        error.WriteLine($"demo: model {dir} (trained {manifest.Steps} steps); {truth.Length} scenes of {hop.TotalSeconds:0.0} s from a generated " +
                        $"{layout.CanvasSize}x{layout.CanvasSize} {(realtime ? "live" : "fast")} camera; the model knows: {CaptionGrammar.Description}");
        await using var engine = UniPerceiverEngine.Start(config, new EngineStartOptions { CaptionVocabulary = manifest.CorpusWordIds, Log = error.WriteLine });
        var settings = StreamSettings.FromConfig(config);
        var tasks = watch is null ? null : InputErrors.Guard("--query", () => StreamTasks.Parse(["watch"], [], watch.Queries, settings, watch.Threshold));
        if (tasks is null) await engine.VocabularyBankAsync().ConfigureAwait(false);
        await using var hub = CaptionStreamHub.Start(engine, settings);
        await using var camera = new SyntheticLiveCamera(scenes, layout, realtime);
        if (tasks is not null)
            return await WatchDemo.RunAsync(hub, FrameSources.RawRgb(camera.Reader, layout.CanvasSize, layout.CanvasSize, layout.Fps, "synthetic live camera"),
                scenes, tasks, json, output, error, cancellation).ConfigureAwait(false);
        int right = 0, shown = 0;
        var stream = hub.AddStream("camera", FrameSources.RawRgb(camera.Reader, layout.CanvasSize, layout.CanvasSize, layout.Fps, "synthetic live camera"), c =>
        {
            var expected = c.Window < truth.Length ? truth[c.Window] : "";
            bool ok = c.Text.Trim() == expected;
            Interlocked.Increment(ref shown);
            if (ok) Interlocked.Increment(ref right);
            output.WriteLine(json ? CaptionSinks.ToJson(c) : string.Create(CultureInfo.InvariantCulture,
                $"[{c.Start:mm\\:ss\\.f}] {c.Text.Trim(),-44} {(ok ? "✓" : "✗ truth: " + expected)}  ({c.Latency.TotalMilliseconds:0} ms)"));
        });
        if (!await DemoStreamEnd.AwaitAsync(stream, error, cancellation).ConfigureAwait(false)) return ExitCodes.Internal;
        error.WriteLine($"demo: {right} of {shown} captions exactly right; {stream.Stats.Snapshot()}");
        return ExitCodes.Ok;
    }
}
