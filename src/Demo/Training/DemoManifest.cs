using System.Text.Json;
using System.Text.Json.Serialization;
using UniPerceiverMoe.Demo.Synthetic;

using UniPerceiverMoe.Model;

namespace UniPerceiverMoe.Demo.Training;

/// <summary>How the demo clips are laid out (demo.json "video"); mirrors <see cref="SyntheticVideoOptions"/>.</summary>
public sealed record DemoVideoLayout(int CanvasSize, int TotalFrames, int Fps, int FramesPerClip, int Stride)
{
    public static DemoVideoLayout From(SyntheticVideoOptions o) => new(o.CanvasSize, o.TotalFrames, o.Fps, o.FramesPerClip, o.Stride);

    public SyntheticVideoOptions ToOptions() => new()
    {
        CanvasSize = CanvasSize, TotalFrames = TotalFrames, Fps = Fps, FramesPerClip = FramesPerClip, Stride = Stride,
    };
}

/// <summary>
/// demo.json: what the demo model was trained on — the grammar, the corpus word ids (the constrained bank; EOS
/// included), the class-name sets, the clip layout — and how (seed, steps, batch, time, last loss). Steps, clips and
/// seconds are cumulative over continued runs (<c>train-demo --init</c>).
/// </summary>
public sealed record DemoManifest(
    string Format,
    string Grammar,
    IReadOnlyList<long> CorpusWordIds,
    IReadOnlyList<string> CorpusWords,
    long EosId,
    IReadOnlyList<string> Shapes,
    IReadOnlyList<string> Colours,
    IReadOnlyList<string> Actions,
    DemoVideoLayout Video,
    long Seed,
    int Steps,
    int BatchSize,
    long TrainingClips,
    double TrainingSeconds,
    float FinalLoss)
{
    public const string CurrentFormat = "upmoe-demo/1";

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static DemoManifest FromJsonFile(string path)
    {
        DemoManifest? manifest;
        try { manifest = JsonSerializer.Deserialize<DemoManifest>(File.ReadAllText(path), Json); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a demo manifest ({e.Message}).", e); }
        if (manifest is null || manifest.Format != CurrentFormat)
            throw new InvalidDataException($"{path}: expected format '{CurrentFormat}', got '{manifest?.Format}'.");
        return manifest;
    }
}
