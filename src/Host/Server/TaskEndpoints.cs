using UniPerceiverMoe.Host.Outputs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Host.Inputs;
using UniPerceiverMoe.Host.Hosting;
using UniPerceiverMoe.Host.Server.Metrics;
using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.Model.Tasks;

namespace UniPerceiverMoe.Host.Server;

/// <summary>
/// The task endpoints: multipart uploads in, the JSON of the matching <c>upmoe … --json</c> command out. Video
/// sampling defaults follow the CLI (caption, retrieve, embed: 4 frames at stride 32; classify: 8 frames × 4 views).
/// </summary>
public static class TaskEndpoints
{
    /// <summary>POST /v1/embed answer: the normalised feature [1, D] as numbers.</summary>
    public sealed record EmbedJson(string Task, string Input, long[] Shape, float[] Feature);

    public static void MapTaskEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/caption", async (HttpContext http, UniPerceiverMoeRuntime runtime, ServerSettings settings, UpmoeMetrics metrics) =>
        {
            var engine = runtime.Engine;
            var form = await ReadFormAsync(http, settings, metrics, multipartOnly: true);
            var options = InputErrors.Guard("beam/max_len/length_penalty", () => new CaptionOptions
            {
                BeamSize = FormFields.Int(form, "beam", 2, 1, 16),
                MaxLength = FormFields.Int(form, "max_len", 21, 1, 256),
                LengthPenalty = FormFields.Double(form, "length_penalty", 2.0, 0, 10),
            }.Validate());
            using var input = await LoadAsync(form, ImagePipeline.Clip, frames: 4, views: 1, metrics, http.RequestAborted);
            EngineCaption result;
            using (metrics.Time("caption")) result = await engine.CaptionAsync(input.Pixels, options, cancellation: http.RequestAborted);
            var beams = BeamJson.Of(result);
            return Results.Json(new CaptionJson(input.Name, beams[0].Ids, beams[0].Text, beams[0].Score, beams), ServerJson.Options);
        });

        app.MapPost("/v1/classify", async (HttpContext http, UniPerceiverMoeRuntime runtime, ServerSettings settings, UpmoeMetrics metrics) =>
        {
            var engine = runtime.Engine;
            var form = await ReadFormAsync(http, settings, metrics, multipartOnly: true);
            var labels = TextLists.FromCommaList(FormFields.RequiredText(form, "labels", "comma-separated class names"), "labels");
            foreach (var label in labels) InputErrors.Guard("labels", () => engine.Tokenizer.Encode(label));
            int top = FormFields.Int(form, "top", 5, 1, 10_000);
            using var input = await LoadAsync(form, ImagePipeline.ImageNet, frames: 8, views: FormFields.Int(form, "views", 4, 1, 8), metrics, http.RequestAborted);
            ClassificationResult result;
            using (metrics.Time("classify")) result = await engine.ClassifyAsync(input.Pixels, labels, input.IsVideo, http.RequestAborted);
            var shown = result.Labels.Take(top).Select(l => new LabelJson(l.Label, l.Logit, l.Probability)).ToArray();
            return Results.Json(new ClassifyJson(input.Name, result.Temperature, result.Views, shown), ServerJson.Options);
        });

        app.MapPost("/v1/retrieve", RetrieveAsync);
        app.MapPost("/v1/embed", EmbedAsync);
    }

    /// <summary>Either one file and <c>texts</c> (one per line): rank the texts; or <c>text</c> and one or more files:
    /// rank the files.</summary>
    private static async Task<IResult> RetrieveAsync(HttpContext http, UniPerceiverMoeRuntime runtime, ServerSettings settings, UpmoeMetrics metrics)
    {
        var engine = runtime.Engine;
        var form = await ReadFormAsync(http, settings, metrics, multipartOnly: true);
        int top = FormFields.Int(form, "top", 10, 1, 10_000);
        var texts = FormFields.Lines(form, "texts");
        string? query = FormFields.Text(form, "text");
        if ((texts.Count > 0) == (query is not null))
            throw ApiException.BadRequest("give either 'texts' (one per line) with one file, or 'text' with one or more files");
        foreach (var t in query is null ? texts : [query]) InputErrors.Guard(query is null ? "texts" : "text", () => engine.Tokenizer.Encode(t));
        var files = Uploads.Files(form, "file");
        var items = new List<VisualInput>();
        try
        {
            if (query is null && files.Count != 1) throw ApiException.BadRequest("'texts' ranks texts for one file: send exactly one 'file'");
            foreach (var file in files) items.Add(await LoadFileAsync(file, form, ImagePipeline.Clip, 4, 1, metrics, http.RequestAborted));
            RetrievalResult result;
            using (metrics.Time("retrieve"))
                result = query is null
                    ? await engine.RetrieveTextsAsync(items[0].Pixels, texts, http.RequestAborted)
                    : await engine.RetrieveVisualsAsync(query, items.Select(i => (i.Name, i.Pixels)).ToArray(), http.RequestAborted);
            var hits = result.Hits.Take(top).Select((h, i) => new HitJson(i + 1, h.Index, h.Item, h.Similarity)).ToArray();
            return Results.Json(new RetrieveJson(query ?? items[0].Name, hits), ServerJson.Options);
        }
        finally
        {
            foreach (var item in items) item.Dispose();
        }
    }

    /// <summary><c>task</c> and either <c>text</c> (text tasks) or one file (visual tasks).</summary>
    private static async Task<IResult> EmbedAsync(HttpContext http, UniPerceiverMoeRuntime runtime, ServerSettings settings, UpmoeMetrics metrics)
    {
        var engine = runtime.Engine;
        var form = await ReadFormAsync(http, settings, metrics, multipartOnly: false);
        string[] names = Enum.GetValues<EmbedTask>().Select(EmbedTasks.Name).ToArray();
        string name = FormFields.RequiredText(form, "task", "one of " + string.Join(", ", names));
        if (!names.Contains(name)) throw ApiException.BadRequest($"unknown task '{name}': expected one of {string.Join(", ", names)}");
        var task = EmbedTasks.Parse(name);
        string input;
        TorchSharp.torch.Tensor feature;
        if (EmbedTasks.IsText(task))
        {
            string text = FormFields.RequiredText(form, "text", $"task {name} embeds a text");
            InputErrors.Guard("text", () => engine.Tokenizer.Encode(text));
            input = "text";
            using (metrics.Time("embed")) feature = await engine.EmbedTextAsync(text, task, http.RequestAborted);
        }
        else
        {
            bool video = EmbedTasks.IsVideo(task);
            var pipeline = task == EmbedTask.ImageClassification ? ImagePipeline.ImageNet : ImagePipeline.Clip;
            using var visual = await LoadAsync(form, pipeline, frames: task == EmbedTask.VideoClassification ? 8 : 4, views: 1, metrics, http.RequestAborted);
            if (visual.IsVideo != video)
                throw ApiException.Unprocessable($"{visual.Name} is {(visual.IsVideo ? "a video" : "an image")}, but task {name} embeds {(video ? "a video" : "an image")}");
            input = visual.Name;
            using (metrics.Time("embed")) feature = await engine.EmbedVisualAsync(visual.Pixels, task, http.RequestAborted);
        }
        using (feature)
            return Results.Json(new EmbedJson(name, input, feature.shape, feature.cpu().data<float>().ToArray()), ServerJson.Options);
    }

    private static async Task<IFormCollection> ReadFormAsync(HttpContext http, ServerSettings settings, UpmoeMetrics metrics, bool multipartOnly)
    {
        using (metrics.Time("upload")) return await Uploads.ReadFormAsync(http.Request, settings.MaxUpload, multipartOnly, http.RequestAborted);
    }

    /// <summary>The single 'file' of the form, decoded with the CLI's sampling (frames and stride overridable).</summary>
    private static Task<VisualInput> LoadAsync(IFormCollection form, ImagePipeline pipeline, int frames, int views, UpmoeMetrics metrics, CancellationToken ct)
    {
        var files = Uploads.Files(form, "file");
        if (files.Count != 1) throw ApiException.BadRequest($"send exactly one 'file' (got {files.Count})");
        return LoadFileAsync(files[0], form, pipeline, frames, views, metrics, ct);
    }

    private static async Task<VisualInput> LoadFileAsync(IFormFile file, IFormCollection form, ImagePipeline pipeline, int frames, int views, UpmoeMetrics metrics,
        CancellationToken ct)
    {
        int f = FormFields.Int(form, "frames", frames, 1, 8), stride = FormFields.Int(form, "stride", 32, 1, 256);
        using (metrics.Time("decode")) return await Uploads.LoadAsync(file, pipeline, f, stride, views, ct);
    }
}
