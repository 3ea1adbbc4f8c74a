using UniPerceiverMoe.Host.Cli;
using UniPerceiverMoe.Host.Outputs;
using System.CommandLine;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Host.Inputs;
using UniPerceiverMoe.Model.Tasks;

namespace UniPerceiverMoe.Host.Cli.Commands;

/// <summary>
/// <c>upmoe retrieve</c>: ranks texts (--texts-file) for one image or clip, or — the reverse — images
/// (--images-dir) or videos (--videos) for one text (--text), by cosine similarity of the spe features.
/// </summary>
public static class RetrieveCommand
{
    public static Command Create()
    {
        var engineOptions = new EngineOptions();
        var visual = new VisualOptions(frames: 4, stride: 32, views: null);
        var textsFile = new Option<string?>("--texts-file") { Description = "Texts to rank for the visual query, one per line", HelpName = "PATH" };
        var text = new Option<string?>("--text") { Description = "Text query for ranking images or videos", HelpName = "\"query\"" };
        var imagesDir = new Option<string?>("--images-dir") { Description = "Rank the PNG/JPEG images of this directory", HelpName = "DIR" };
        var videos = new Option<string[]>("--videos") { Description = "Rank these videos", HelpName = "FILE", AllowMultipleArgumentsPerToken = true };
        var top = new Option<int>("--top") { Description = "How many ranked items to print", HelpName = "K", DefaultValueFactory = _ => 10 };
        top.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 1) r.AddError("--top must be at least 1.");
        });
        var command = new Command("retrieve", "Rank texts for an image or video, or images/videos for a text");
        engineOptions.AddTo(command);
        visual.AddTo(command, required: false);
        foreach (var option in new Option[] { textsFile, text, imagesDir, videos, top }) command.Add(option);
        command.Validators.Add(r =>
        {
            bool Given(Option o) => r.GetResult(o) is { Implicit: false };
            bool textsMode = Given(textsFile), visualMode = Given(text);
            if (textsMode == visualMode)
                r.AddError("give either --texts-file with one of --image, --video or --tensor, or --text with --images-dir or --videos.");
            else if (textsMode && visual.Given(r) != 1)
                r.AddError("--texts-file needs exactly one of --image, --video or --tensor.");
            else if (visualMode && (Given(imagesDir) == Given(videos) || visual.Given(r) != 0))
                r.AddError("--text needs exactly one of --images-dir or --videos (and no --image, --video or --tensor).");
        });

        CliAction.Bind(command, engineOptions, async (context, cancellation) =>
        {
            context.Settings();                 // a wrong checkpoint or config fails before any input is decoded
            string query;
            RetrievalResult result;
            if (context.Value(textsFile) is { } file)
            {
                var texts = TextLists.FromFile(file, "texts");
                using var input = await visual.LoadAsync(context, ImagePipeline.Clip, maxRank: 4, cancellation).ConfigureAwait(false);
                var engine = await context.EngineAsync(cancellation).ConfigureAwait(false);
                foreach (var t in texts) context.CheckText(engine, file, t);
                (query, result) = (input.Name, await engine.RetrieveTextsAsync(input.Pixels, texts, cancellation).ConfigureAwait(false));
            }
            else
            {
                query = context.Value(text)!;
                result = await RankVisualsAsync(context, visual, query, context.Value(imagesDir), context.Value(videos), cancellation).ConfigureAwait(false);
            }
            var hits = result.Hits.Take(context.Value(top)).Select((h, i) => new HitJson(i + 1, h.Index, h.Item, h.Similarity)).ToArray();
            if (context.Json)
            {
                JsonOutput.Write(context.Output, new RetrieveJson(query, hits));
            }
            else
            {
                foreach (var h in hits) context.Output.WriteLine($"{h.Rank,3}  {h.Similarity,8:0.0000}  {h.Item}");
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>Loads every gallery item (the engine does not own them; they are disposed here) and ranks them.</summary>
    private static async Task<RetrievalResult> RankVisualsAsync(CommandContext context, VisualOptions visual, string query,
        string? imagesDir, string[]? videos, CancellationToken cancellation)
    {
        var items = new List<VisualInput>();
        try
        {
            if (imagesDir is not null)
                foreach (var path in VisualLoader.ImagesIn(imagesDir)) items.Add(VisualLoader.LoadImage(path, ImagePipeline.Clip));
            else
                foreach (var path in videos ?? [])
                {
                    context.Log($"decoding {path}…");
                    items.Add(await VisualLoader.LoadVideoAsync(path, context.Value(visual.Frames), context.Value(visual.Stride), 1, cancellation).ConfigureAwait(false));
                }
            UniPerceiverEngine engine = await context.EngineAsync(cancellation).ConfigureAwait(false);
            context.CheckText(engine, "--text", query);
            return await engine.RetrieveVisualsAsync(query, items.Select(i => (i.Name, i.Pixels)).ToArray(), cancellation).ConfigureAwait(false);
        }
        finally
        {
            foreach (var item in items) item.Dispose();
        }
    }
}
