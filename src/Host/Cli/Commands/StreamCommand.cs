using System.CommandLine;
using System.Globalization;
using System.Text;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Streams;
using UniPerceiverMoe.Streams.Flows;
using UniPerceiverMoe.Streams.Sources;

namespace UniPerceiverMoe.Host.Cli.Commands;

/// <summary>
/// <c>upmoe stream --checkpoint PATH (--video PATH | --url URL | --stdin)… [--realtime] [--window 4 --stride 8 --hop 1s]</c>:
/// captions video streams as they are produced (one line per caption on stdout; several --video/--url run
/// concurrently and share the engine's micro-batches). Per-stream measurements go to stderr at the end.
/// Exit code 0 when every stream ended normally, 1 when any failed.
/// </summary>
public static class StreamCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "Checkpoint (.pth or .safetensors).", Required = true };
        var videos = new Option<string[]>("--video") { Description = "Video file to caption (repeatable).", AllowMultipleArgumentsPerToken = true };
        var urls = new Option<string[]>("--url") { Description = "URL ffmpeg can open, e.g. rtsp://… (repeatable).", AllowMultipleArgumentsPerToken = true };
        var stdin = new Option<bool>("--stdin") { Description = "Read raw rgb24 frames from stdin (e.g. ffmpeg -i X -f rawvideo -pix_fmt rgb24 -s 320x240 -r 30 -)." };
        var size = new Option<string>("--size") { Description = "Frame size of --stdin frames, WIDTHxHEIGHT.", DefaultValueFactory = _ => "320x240" };
        var fps = new Option<double?>("--fps") { Description = "Frame rate of --stdin frames, and the decode rate of files and URLs (default upmoe.streams.decode-fps)." };
        var realtime = new Option<bool>("--realtime") { Description = "Play files at their frame rate, as if live (drops windows when the engine falls behind)." };
        var window = new Option<int?>("--window") { Description = "Frames per window (upmoe.streams.window)." };
        var stride = new Option<int?>("--stride") { Description = "Frames between sampled frames, at 30 fps (upmoe.streams.stride)." };
        var hop = new Option<string?>("--hop") { Description = "Time between windows, e.g. 1s, 500ms (upmoe.streams.hop)." };
        var json = new Option<bool>("--json") { Description = "Print JSON lines instead of text." };
        var config = new Option<string?>("--config") { Description = "HOCON file over the defaults (hocon/reference.conf)." };
        var command = new Command("stream", "Caption video streams as they play.")
        {
            checkpoint, videos, urls, stdin, size, fps, realtime, window, stride, hop, json, config,
        };
        command.SetAction((parse, cancellation) => RunAsync(new Args(
            parse.GetValue(checkpoint)!, parse.GetValue(videos) ?? [], parse.GetValue(urls) ?? [], parse.GetValue(stdin), parse.GetValue(size)!,
            parse.GetValue(fps), parse.GetValue(realtime), parse.GetValue(window), parse.GetValue(stride), parse.GetValue(hop),
            parse.GetValue(json), parse.GetValue(config)), cancellation));
        return command;
    }

    private sealed record Args(string Checkpoint, string[] Videos, string[] Urls, bool Stdin, string Size, double? Fps, bool Realtime,
        int? Window, int? Stride, string? Hop, bool Json, string? Config);

    private static async Task<int> RunAsync(Args a, CancellationToken cancellation)
    {
        if (a.Videos.Length + a.Urls.Length == 0 && !a.Stdin)
        {
            await Console.Error.WriteLineAsync("upmoe stream: give at least one --video, --url or --stdin.");
            return 2;
        }
        var overrides = new StringBuilder();
        overrides.AppendLine(CultureInfo.InvariantCulture, $"upmoe.engine.checkpoint = {Quote(a.Checkpoint)}");
        if (a.Window is { } w) overrides.AppendLine(CultureInfo.InvariantCulture, $"upmoe.streams.window = {w}");
        if (a.Stride is { } s) overrides.AppendLine(CultureInfo.InvariantCulture, $"upmoe.streams.stride = {s}");
        if (a.Hop is { } h) overrides.AppendLine(CultureInfo.InvariantCulture, $"upmoe.streams.hop = {Quote(h)}");
        if (a.Realtime) overrides.AppendLine("upmoe.streams.realtime = on");
        var config = Akka.Configuration.ConfigurationFactory.ParseString(overrides.ToString())
            .WithFallback(a.Config is null ? UpmoeConfig.Reference : UpmoeConfig.LoadFile(a.Config));
        var settings = StreamSettings.FromConfig(config);
        double rate = a.Fps ?? settings.DecodeFps;

        await using var engine = UniPerceiverEngine.Start(config, new EngineStartOptions { Log = line => Console.Error.WriteLine(line) });
        await engine.VocabularyBankAsync();
        await using var hub = CaptionStreamHub.Start(engine, settings);
        var sink = a.Json ? CaptionSinks.JsonLines(Console.Out) : CaptionSinks.Console(Console.Out);
        var sources = a.Videos.Select(v => FrameSources.VideoFile(v, rate, settings.Realtime))
            .Concat(a.Urls.Select(u => FrameSources.Url(u, rate, settings.Realtime)))
            .ToList();
        if (a.Stdin)
        {
            var (width, height) = ParseSize(a.Size);
            sources.Add(FrameSources.RawRgb(Console.OpenStandardInput(), width, height, rate));
        }
        var streams = sources.Select((src, i) => hub.AddStream(sources.Count == 1 ? "0" : i.ToString(CultureInfo.InvariantCulture), src, sink)).ToArray();
        using var stop = cancellation.Register(() => { foreach (var st in streams) st.Stop(); });

        int exit = 0;
        foreach (var st in streams)
        {
            try
            {
                await st.Completion;
            }
            catch (CaptionStreamException e)
            {
                await Console.Error.WriteLineAsync("error: " + e.Message);
                exit = 1;
            }
            await Console.Error.WriteLineAsync($"[{st.Id}] {st.Source.Name}: {st.Stats.Snapshot()}");
        }
        return exit;
    }

    private static (int Width, int Height) ParseSize(string text)
    {
        var parts = text.Split('x', 'X');
        if (parts.Length == 2 && int.TryParse(parts[0], CultureInfo.InvariantCulture, out int w) && int.TryParse(parts[1], CultureInfo.InvariantCulture, out int h) && w > 0 && h > 0)
            return (w, h);
        throw new ArgumentException($"--size must be WIDTHxHEIGHT, e.g. 320x240 (got '{text}').");
    }

    private static string Quote(string value) =>
        "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";
}
