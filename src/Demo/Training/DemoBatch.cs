using TorchSharp;
using UniPerceiverMoe.Model.Preprocessing;
using UniPerceiverMoe.Demo.Synthetic;
using static TorchSharp.torch;

using UniPerceiverMoe.Model;

namespace UniPerceiverMoe.Demo.Training;

/// <summary>
/// One training batch of synthetic clips, preprocessed exactly as real video (TimesformerTest). Owns its tensors:
/// <see cref="Pixels"/> [B, T, 3, 224, 224] float32; <see cref="Words"/> [B, n] caption ids right-padded with 0;
/// <see cref="Targets"/> [B, n] constrained-bank rows of the words, −100 (ignored) on padding;
/// <see cref="Labels"/> [3, B] class indices (shape, colour, action).
/// </summary>
public sealed class DemoBatch : IDisposable
{
    public const long IgnoreIndex = -100;

    private DemoBatch(IReadOnlyList<SyntheticClip> clips, Tensor pixels, Tensor words, Tensor targets, Tensor labels)
    {
        Clips = clips;
        Pixels = pixels;
        Words = words;
        Targets = targets;
        Labels = labels;
    }

    public IReadOnlyList<SyntheticClip> Clips { get; }
    public Tensor Pixels { get; }
    public Tensor Words { get; }
    public Tensor Targets { get; }
    public Tensor Labels { get; }

    public int WordCount => (int)Words.size(1);

    /// <summary>Clips <paramref name="start"/>.. of <paramref name="seed"/>, rendered and tokenised.</summary>
    public static DemoBatch Create(SyntheticVideoGenerator generator, DemoCorpus corpus, long seed, long start, int size)
    {
        var clips = generator.SampleMany(seed, start, size);
        var ids = clips.Select(c => corpus.CaptionIds(CaptionGrammar.Caption(c))).ToArray();
        int n = ids.Max(i => i.Count);
        var words = new long[size * n];
        var targets = new long[size * n];
        var labels = new long[3 * size];
        for (int b = 0; b < size; b++)
        {
            for (int j = 0; j < n; j++)
            {
                bool real = j < ids[b].Count;
                words[b * n + j] = real ? ids[b][j] : 0;
                targets[b * n + j] = real ? corpus.RowOf(ids[b][j]) : IgnoreIndex;
            }
            for (int s = 0; s < 3; s++) labels[s * size + b] = DemoCorpus.Label(clips[b], s);
        }
        return new DemoBatch(clips, RenderPixels(clips, generator.Options), tensor(words, [size, n]), tensor(targets, [size, n]),
            tensor(labels, [3, size]));
    }

    /// <summary>Rendered and preprocessed model frames of <paramref name="clips"/>: a new [B, T, 3, 224, 224] tensor.</summary>
    public static Tensor RenderPixels(IReadOnlyList<SyntheticClip> clips, SyntheticVideoOptions options)
    {
        var views = new Tensor[clips.Count];
        try
        {
            for (int i = 0; i < clips.Count; i++)
            {
                using var frames = ClipRenderer.RenderModelFrames(clips[i], options);
                views[i] = VideoTransforms.TimesformerTest(frames);
            }
            return stack(views, 0);
        }
        finally
        {
            foreach (var v in views) v?.Dispose();
        }
    }

    public void Dispose()
    {
        Pixels.Dispose();
        Words.Dispose();
        Targets.Dispose();
        Labels.Dispose();
    }
}
