using TorchSharp;
using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Preprocessing;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Demo.Synthetic;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.Model.Tokenization;
using static TorchSharp.torch;

using UniPerceiverMoe.Model;

namespace UniPerceiverMoe.Demo.Training;

/// <summary>How to evaluate: which clips, which bank, and whether frames go through a real video file.</summary>
public sealed record DemoEvalOptions
{
    public int Clips { get; init; } = 200;
    /// <summary>Seed of the evaluation clips; must differ from the training seed for a held-out figure.</summary>
    public long Seed { get; init; } = 1000;
    public int BatchSize { get; init; } = 8;
    /// <summary>Decode against the full 49,411-word bank instead of the corpus words + EOS.</summary>
    public bool FullBank { get; init; }
    /// <summary>When set, each clip is written to an H.264 .mp4 here and read back with ffmpeg (VideoClipReader).</summary>
    public string? VideoDirectory { get; init; }
    public CaptionOptions Caption { get; init; } = new();
}

/// <summary>One evaluated clip.</summary>
public sealed record DemoEvalSample(SyntheticClip Clip, string Expected, string Predicted, int[] ExpectedLabels, int[] PredictedLabels)
{
    public bool CaptionExact => Expected == Predicted;
}

/// <summary>Aggregate figures: exact caption match and per-attribute accuracy (shape, colour, action).</summary>
public sealed record DemoEvaluation(IReadOnlyList<DemoEvalSample> Samples, IReadOnlyList<string> AttributeNames)
{
    public double CaptionExactMatch => Samples.Count(s => s.CaptionExact) / (double)Samples.Count;

    public double AttributeAccuracy(int set) => Samples.Count(s => s.ExpectedLabels[set] == s.PredictedLabels[set]) / (double)Samples.Count;

    /// <summary>Mean over the attributes of their accuracy.</summary>
    public double MeanAttributeAccuracy => Enumerable.Range(0, AttributeNames.Count).Average(AttributeAccuracy);

    public string Summary => $"caption exact-match: {100 * CaptionExactMatch:F1} %, attribute accuracy: {100 * MeanAttributeAccuracy:F1} %";
}

/// <summary>
/// Evaluates a demo model on freshly generated clips with the inference path (merged-weight executor, beam search
/// with the zero-shot defaults, zero-shot classification against class-name features).
/// </summary>
public static class DemoEvaluator
{
    public static async Task<DemoEvaluation> EvaluateAsync(UniPerceiverMoeModel model, DemoManifest manifest, ClipTokenizer tokenizer,
        DemoEvalOptions options, IProgress<int>? progress = null, CancellationToken cancellation = default)
    {
        using var executor = new LocalMoeExecutor(model, new RouteTable(model));
        var runner = new UniPerceiverRunner(model, executor);
        var video = manifest.Video.ToOptions();
        var generator = new SyntheticVideoGenerator(video);
        string[][] labelSets = [manifest.Shapes.ToArray(), manifest.Colours.ToArray(), manifest.Actions.ToArray()];
        using var bank = VocabularyBank.Build(runner, options.FullBank ? null : manifest.CorpusWordIds.ToArray());
        var labelFeatures = labelSets.Select(set => UniPerceiverTasks.TextFeatures(runner,
            set.Select(name => tokenizer.EncodeForTarget(name, DemoCorpus.MaxCaptionTokens)).ToArray(), MoeAttribute.ClassNameTarget)).ToArray();
        try
        {
            var samples = new List<DemoEvalSample>(options.Clips);
            for (int start = 0; start < options.Clips; start += options.BatchSize)
            {
                cancellation.ThrowIfCancellationRequested();
                var clips = generator.SampleMany(options.Seed, start, Math.Min(options.BatchSize, options.Clips - start));
                using var pixels = options.VideoDirectory is null
                    ? DemoBatch.RenderPixels(clips, video)
                    : await ThroughVideoFiles(clips, video, options.VideoDirectory, start, cancellation).ConfigureAwait(false);
                var captions = CaptionBeamSearcher.Decode(runner, pixels, bank, options.Caption, cancellation: cancellation);
                var predicted = Classify(runner, pixels, labelFeatures);
                for (int i = 0; i < clips.Count; i++)
                {
                    var (shape, colour, action) = CaptionGrammar.Labels(clips[i]);
                    string text = tokenizer.Decode(captions[i].Best.Tokens.Select(t => (int)t)).Trim();
                    samples.Add(new DemoEvalSample(clips[i], CaptionGrammar.Caption(clips[i]), text, [shape, colour, action], predicted[i]));
                }
                progress?.Report(samples.Count);
            }
            return new DemoEvaluation(samples, ["shape", "colour", "action"]);
        }
        finally
        {
            foreach (var f in labelFeatures) f.Dispose();
        }
    }

    /// <summary>Arg-max class per input and label set: [B][sets].</summary>
    private static int[][] Classify(UniPerceiverRunner runner, Tensor pixels, Tensor[] labelFeatures)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var features = UniPerceiverTasks.VisualFeatures(runner, pixels, MoeAttribute.VisualInput);    // [B, D]
        var best = labelFeatures.Select(l => features.matmul(l.t()).argmax(-1).data<long>().ToArray()).ToArray();
        return Enumerable.Range(0, (int)pixels.size(0)).Select(b => best.Select(set => (int)set[b]).ToArray()).ToArray();
    }

    /// <summary>Writes each clip as an .mp4, reads the reference eval frames back with ffmpeg and preprocesses them.</summary>
    private static async Task<Tensor> ThroughVideoFiles(IReadOnlyList<SyntheticClip> clips, SyntheticVideoOptions video, string directory,
        int start, CancellationToken cancellation)
    {
        var views = new Tensor[clips.Count];
        try
        {
            for (int i = 0; i < clips.Count; i++)
            {
                string path = Path.Combine(directory, $"clip-{start + i:D5}.mp4");
                await SyntheticVideoWriter.WriteAsync(clips[i], video, path, cancellation: cancellation).ConfigureAwait(false);
                using var frames = await VideoClipReader.ReadEvalClipsAsync(path, video.FramesPerClip, video.Stride,
                    cancellationToken: cancellation).ConfigureAwait(false);                              // [1, T, H, W, 3]
                using var first = frames[0];
                views[i] = VideoTransforms.TimesformerTest(first);
            }
            return stack(views, 0);
        }
        finally
        {
            foreach (var v in views) v?.Dispose();
        }
    }
}
