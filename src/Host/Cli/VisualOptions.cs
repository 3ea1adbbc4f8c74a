using UniPerceiverMoe.Host.Inputs;
using System.CommandLine;
using System.CommandLine.Parsing;

namespace UniPerceiverMoe.Host.Cli;

/// <summary>
/// --image / --video / --tensor and the video sampling options of one command. Defaults follow the reference's
/// eval configs: captioning and retrieval (MSVD) 4 frames at stride 32, one view; classification (K400) 8 frames
/// at stride 32 in 4 'v2' views. Strides count frames of a 30 fps video.
/// </summary>
public sealed class VisualOptions
{
    private readonly bool withViews;

    public VisualOptions(int frames, int stride, int? views)
    {
        withViews = views is not null;
        Frames = new("--frames") { Description = "Video frames per clip (per view)", HelpName = "N", DefaultValueFactory = _ => frames };
        Stride = new("--stride") { Description = "Video sampling stride, in frames of a 30 fps video", HelpName = "N", DefaultValueFactory = _ => stride };
        Views = new("--views") { Description = "Temporal views averaged for video classification", HelpName = "N", DefaultValueFactory = _ => views ?? 1 };
        foreach (var option in new[] { Frames, Stride, Views })
            option.Validators.Add(r =>
            {
                if (r.GetValueOrDefault<int>() < 1) r.AddError($"{r.IdentifierToken?.Value ?? "value"} must be at least 1.");
            });
    }

    public Option<string?> Image { get; } = new("--image") { Description = "Image file (PNG or JPEG)", HelpName = "PATH" };
    public Option<string?> Video { get; } = new("--video") { Description = "Video file or URL (decoded with ffmpeg)", HelpName = "PATH|URL" };
    public Option<string?> Tensor { get; } = new("--tensor")
    {
        Description = "Preprocessed pixels in a safetensors file: [3,S,S] image, [T,3,S,S] clip, [V,T,3,S,S] clip views",
        HelpName = "FILE.safetensors:NAME",
    };
    public Option<int> Frames { get; }
    public Option<int> Stride { get; }
    public Option<int> Views { get; }

    public IEnumerable<Option> Sources => [Image, Video, Tensor];

    /// <summary>Adds the options; <paramref name="required"/> adds the "exactly one source" check.</summary>
    public void AddTo(Command command, bool required = true)
    {
        foreach (var option in Sources) command.Add(option);
        command.Add(Frames);
        command.Add(Stride);
        if (withViews) command.Add(Views);
        if (required)
            command.Validators.Add(r =>
            {
                if (Given(r) != 1) r.AddError("give exactly one of --image, --video or --tensor.");
            });
    }

    /// <summary>How many of --image, --video, --tensor were given.</summary>
    public int Given(CommandResult result) => Sources.Count(o => result.GetResult(o) is { Implicit: false });

    /// <summary>Loads the given source. <paramref name="maxRank"/> 4 refuses clip views (one input, one feature);
    /// <paramref name="framesWhenUnset"/> replaces the --frames default (a per-task default).</summary>
    public async Task<VisualInput> LoadAsync(CommandContext context, ImagePipeline pipeline, int maxRank, CancellationToken cancellation,
        int? framesWhenUnset = null)
    {
        if (context.Value(Image) is { } image)
        {
            context.Log($"decoding {image}…");
            return VisualLoader.LoadImage(image, pipeline);
        }
        if (context.Value(Video) is { } video)
        {
            int frames = context.Given(Frames) ? context.Value(Frames) : framesWhenUnset ?? context.Value(Frames);
            int stride = context.Value(Stride), views = withViews ? context.Value(Views) : 1;
            context.Log($"decoding {video} ({frames} frames at stride {stride}{(views > 1 ? $", {views} views" : "")})…");
            return await VisualLoader.LoadVideoAsync(video, frames, stride, views, cancellation).ConfigureAwait(false);
        }
        if (context.Value(Tensor) is { } spec) return TensorInput.Load(spec, maxRank);
        throw new InputException("input", "give one of --image, --video or --tensor");
    }
}
