using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Streams.Settings;
using System.CommandLine;
using System.Globalization;
using System.Text;
using Akka.Configuration;
using UniPerceiverMoe.Host.Inputs;
using UniPerceiverMoe.Host.Cli.Streaming;
using UniPerceiverMoe.Streams;
using UniPerceiverMoe.Streams.Sources;
using UniPerceiverMoe.Streams.Tasks;

namespace UniPerceiverMoe.Host.Cli.Commands;

/// <summary>
/// <c>upmoe stream [--checkpoint PATH] (--video PATH | --url URL | --images DIR | --watch-images DIR | --snapshot-url URL |
/// --stdin)… [--realtime] [--window 4 --stride 8 --hop 1s] [--task caption|classify|watch|match]… [--labels "a,b" |
/// --labels-file F] [--query TEXT]… [--threshold 0.3] [--texts "a,b" | --texts-file F] [--text-feed -|FILE|tcp://HOST:PORT]
/// [--json]</c>: runs the tasks on each window of the streams as they are produced (one line per caption,
/// classification, alert or match event on stdout; several inputs run concurrently and share the engine's
/// micro-batches, batched by route). With --text-feed, each text of the feed is matched against the streams' most
/// recent windows (one line per text).
/// Per-stream measurements go to stderr at the end (with --json, also one summary line per stream on stdout).
/// Exit code 0 when every stream ended normally, 1 when any failed, 2 for bad arguments or inputs.
/// </summary>
public static class StreamCommand
{
    public static Command Create()
    {
        var engineOptions = new EngineOptions();
        var videos = new Option<string[]>("--video") { Description = "Video file to caption (repeatable)", HelpName = "PATH", AllowMultipleArgumentsPerToken = true };
        var urls = new Option<string[]>("--url") { Description = "URL ffmpeg can open, e.g. rtsp://… (repeatable)", HelpName = "URL", AllowMultipleArgumentsPerToken = true };
        var images = new Option<string[]>("--images")
        {
            Description = "Folder of PNG/JPEG images (all one size), read in name order as frames at --fps (repeatable)",
            HelpName = "DIR",
            AllowMultipleArgumentsPerToken = true,
        };
        var watchImages = new Option<string[]>("--watch-images")
        {
            Description = "Watched folder: its PNG/JPEG images in name order, then each new one as it appears, as frames at --fps (repeatable; live)",
            HelpName = "DIR",
            AllowMultipleArgumentsPerToken = true,
        };
        var snapshots = new Option<string[]>("--snapshot-url")
        {
            Description = "HTTP(S) URL of a still image (a camera snapshot), fetched --snapshot-rate times a second, one frame each (repeatable; live)",
            HelpName = "URL",
            AllowMultipleArgumentsPerToken = true,
        };
        var snapshotRate = new Option<double>("--snapshot-rate") { Description = "Fetches per second of each --snapshot-url", HelpName = "HZ", DefaultValueFactory = _ => 1 };
        var stdin = new Option<bool>("--stdin") { Description = "Read raw rgb24 frames from stdin (e.g. ffmpeg -i X -f rawvideo -pix_fmt rgb24 -s 320x240 -r 30 -)" };
        var size = new Option<string>("--size") { Description = "Frame size of --stdin frames", HelpName = "WIDTHxHEIGHT", DefaultValueFactory = _ => "320x240" };
        var fps = new Option<double?>("--fps") { Description = "Frame rate of --stdin frames, and the decode rate of files and URLs (default upmoe.streams.decode-fps)" };
        var realtime = new Option<bool>("--realtime") { Description = "Play files at their frame rate, as if live (windows are dropped, and counted, when the engine falls behind)" };
        var window = new Option<int?>("--window") { Description = "Frames per window (upmoe.streams.window)", HelpName = "N" };
        var stride = new Option<int?>("--stride") { Description = "Frames between sampled frames, at 30 fps (upmoe.streams.stride)", HelpName = "N" };
        var hop = new Option<string?>("--hop") { Description = "Time between windows, e.g. 1s, 500ms (upmoe.streams.hop)", HelpName = "DURATION" };
        var tasks = new Option<string[]>("--task")
        {
            Description = "What to do with each window: caption, classify (needs --labels/--labels-file), watch (needs --query), match (needs --texts/--texts-file or --text-feed); repeatable, one encoding per route is shared",
            HelpName = "caption|classify|watch|match",
            AllowMultipleArgumentsPerToken = true,
        };
        var labels = new Option<string?>("--labels") { Description = "Comma-separated class names for --task classify", HelpName = "\"a,b,c\"" };
        var labelsFile = new Option<string?>("--labels-file") { Description = "Class names for --task classify, one per line", HelpName = "PATH" };
        var queries = new Option<string[]>("--query") { Description = "A standing text query for --task watch (repeatable)", HelpName = "TEXT" };
        var threshold = new Option<double?>("--threshold")
        {
            Description = "Cosine similarity at which a watch alert starts (upmoe.streams.watch.threshold; it stops below threshold - upmoe.streams.watch.hysteresis)",
            HelpName = "SCORE",
        };
        var texts = new Option<string?>("--texts") { Description = "Comma-separated texts each window ranks, for --task match", HelpName = "\"a,b\"" };
        var textsFile = new Option<string?>("--texts-file") { Description = "Texts each window ranks for --task match, one per line", HelpName = "PATH" };
        var textFeed = new Option<string?>("--text-feed")
        {
            Description = "Texts matched against the streams' recent windows as they arrive, for --task match: - (stdin lines), a file being appended to, or tcp://ADDRESS:PORT (listen; clients write lines)",
            HelpName = "-|FILE|tcp://HOST:PORT",
        };
        var command = new Command("stream", "Caption, classify, watch or match live video and image streams as they play")
        {
            videos, urls, images, watchImages, snapshots, snapshotRate, stdin, size, fps, realtime, window, stride, hop, tasks, labels, labelsFile, queries,
            threshold, texts, textsFile, textFeed,
        };
        command.Validators.Add(r =>
        {
            if (r.GetResult(labels) is { Implicit: false } && r.GetResult(labelsFile) is { Implicit: false })
                r.AddError("give at most one of --labels or --labels-file.");
            if (r.GetResult(texts) is { Implicit: false } && r.GetResult(textsFile) is { Implicit: false })
                r.AddError("give at most one of --texts or --texts-file.");
            if (r.GetValue(stdin) && r.GetValue(textFeed) == "-")
                r.AddError("--stdin (frames) and --text-feed - (texts) cannot both read stdin.");
        });
        engineOptions.AddTo(command);

        CliAction.Bind(command, engineOptions, async (context, cancellation) =>
        {
            string[] files = context.Value(videos) ?? [], links = context.Value(urls) ?? [], folders = context.Value(images) ?? [];
            string[] watchedFolders = context.Value(watchImages) ?? [], snapshotUrls = context.Value(snapshots) ?? [];
            if (files.Length + links.Length + folders.Length + watchedFolders.Length + snapshotUrls.Length == 0 && !context.Value(stdin))
                throw new InputException("--video/--url/--images/--watch-images/--snapshot-url/--stdin", "give at least one stream");
            context.Settings();
            foreach (var file in files)
                if (!File.Exists(file)) throw new InputException(file, "video not found");
            foreach (var folder in folders.Concat(watchedFolders))
                if (!Directory.Exists(folder)) throw new InputException(folder, "image folder not found");
            foreach (var url in snapshotUrls)
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                    throw new InputException(url, "a snapshot URL must be http:// or https://");
            if (!(context.Value(snapshotRate) > 0)) throw new InputException("--snapshot-rate", "must be positive");
            var overrides = new StringBuilder();
            if (context.Value(window) is { } w) overrides.AppendLine(CultureInfo.InvariantCulture, $"upmoe.streams.window = {w}");
            if (context.Value(stride) is { } s) overrides.AppendLine(CultureInfo.InvariantCulture, $"upmoe.streams.stride = {s}");
            if (context.Value(hop) is { } h) overrides.AppendLine(CultureInfo.InvariantCulture, $"upmoe.streams.hop = \"{h}\"");
            if (context.Value(realtime)) overrides.AppendLine("upmoe.streams.realtime = on");
            var settings = InputErrors.Guard("--window/--stride/--hop", () =>
                StreamSettings.FromConfig(UpmoeConfig.Over(context.BuildConfig(), overrides.ToString())));
            double rate = context.Value(fps) ?? settings.DecodeFps;
            var sources = files.Select(v => FrameSources.VideoFile(v, rate, settings.Realtime))
                .Concat(links.Select(u => FrameSources.Url(u, rate, settings.Realtime)))
                .Concat(folders.Select(d => FrameSources.ImageFolder(d, rate, settings.Realtime)))
                .Concat(watchedFolders.Select(d => FrameSources.WatchedFolder(d, rate, TimeSpan.FromMilliseconds(200))))
                .Concat(snapshotUrls.Select(u => FrameSources.SnapshotUrl(u, context.Value(snapshotRate)))).ToList();
            if (context.Value(stdin))
            {
                var (width, height) = ParseSize(context.Value(size)!);
                sources.Add(FrameSources.RawRgb(Console.OpenStandardInput(), width, height, rate));
            }
            var names = context.Value(labels) is { } list ? TextLists.FromCommaList(list, "--labels")
                : context.Value(labelsFile) is { } labelPath ? TextLists.FromFile(labelPath, "labels")
                : [];
            var watched = context.Value(queries) ?? [];
            var taskNames = context.Value(tasks) is { Length: > 0 } given ? given.SelectMany(t => t.Split(',')).ToArray() : ["caption"];
            var ranked = context.Value(texts) is { } textList ? TextLists.FromCommaList(textList, "--texts")
                : context.Value(textsFile) is { } textsPath ? TextLists.FromFile(textsPath, "texts")
                : [];
            string? feed = context.Value(textFeed);
            var streamTasks = InputErrors.Guard("--task", () => StreamTasks.Parse(taskNames, names, watched, settings, context.Value(threshold), ranked, feed is not null));
            var lines = feed is null ? null : InputErrors.Guard("--text-feed", () => TextSources.Open(feed, Console.In,
                bound => context.Error.WriteLine($"upmoe: text feed listening on tcp://{bound}")));
            var engine = await context.EngineAsync(cancellation).ConfigureAwait(false);
            foreach (var name in streamTasks.Labels) context.CheckText(engine, context.Value(labelsFile) ?? "--labels", name);
            foreach (var query in streamTasks.Queries) context.CheckText(engine, "--query", query);
            foreach (var text in streamTasks.MatchTexts) context.CheckText(engine, context.Value(textsFile) ?? "--texts", text);
            var textInput = lines is null ? null : new TextFeedInput(feed!, lines);
            return await StreamRunner.RunAsync(engine, settings, sources, streamTasks, context.Json, context.Output, context.Error, cancellation, textInput)
                .ConfigureAwait(false);
        });
        return command;
    }

    private static (int Width, int Height) ParseSize(string text)
    {
        var parts = text.Split('x', 'X');
        if (parts.Length == 2 && int.TryParse(parts[0], CultureInfo.InvariantCulture, out int w) && int.TryParse(parts[1], CultureInfo.InvariantCulture, out int h) && w > 0 && h > 0)
            return (w, h);
        throw new InputException("--size", $"must be WIDTHxHEIGHT, e.g. 320x240 (got '{text}')");
    }
}
