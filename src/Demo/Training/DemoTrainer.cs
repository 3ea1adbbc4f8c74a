using System.Diagnostics;
using System.Runtime.InteropServices;
using TorchSharp;
using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Demo.Synthetic;
using static TorchSharp.torch;

using UniPerceiverMoe.Model;

namespace UniPerceiverMoe.Demo.Training;

/// <summary>One progress record (every <see cref="DemoTrainingOptions.LogEvery"/> steps and at the last step).</summary>
public sealed record DemoTrainingProgress(int Step, int Steps, float Loss, float CaptionLoss, float ClassificationLoss,
    float CaptionTokenAccuracy, float[] LabelAccuracies, double LearningRate, TimeSpan Elapsed)
{
    public float LabelAccuracy => LabelAccuracies.Average();

    public override string ToString() =>
        $"step {Step}/{Steps}  loss {Loss:F4} (caption {CaptionLoss:F4}, cls {ClassificationLoss:F4})  " +
        $"caption-token acc {CaptionTokenAccuracy:P1}  shape/colour/action acc {string.Join("/", LabelAccuracies.Select(a => a.ToString("P0")))}  lr {LearningRate:E2}  {Elapsed.TotalSeconds:F0} s";
}

/// <summary>The outcome of a run: the trained model (caller owns it, eval mode, gradients off) and its history.</summary>
public sealed record DemoTrainingResult(UniPerceiverMoeModel Model, IReadOnlyList<DemoTrainingProgress> History, TimeSpan Elapsed);

/// <summary>
/// Trains the demo model on freshly generated clips (step s uses clips s·B..(s+1)·B−1 of the training seed, so no clip
/// repeats). Deterministic for a seed and a thread count: initialisation, data, distractors and gate noise are seeded.
/// </summary>
public static class DemoTrainer
{
    /// <param name="start">Continue from this model instead of a fresh initialisation (taken over: the result's
    /// model is this instance, unfrozen for training and frozen again at the end); its config wins over
    /// <paramref name="config"/>. Clips of a continued run start after <paramref name="firstClip"/>.</param>
    /// <param name="checkpoint">Called with (steps done, model in training state) every
    /// <see cref="DemoTrainingOptions.CheckpointEvery"/> steps, e.g. to save it so a crash can resume with --init.</param>
    public static DemoTrainingResult Train(DemoTrainingOptions options, DemoCorpus corpus, UniPerceiverConfig? config = null,
        SyntheticVideoGenerator? generator = null, IProgress<DemoTrainingProgress>? progress = null, CancellationToken cancellation = default,
        UniPerceiverMoeModel? start = null, long firstClip = 0, Action<int, UniPerceiverMoeModel>? checkpoint = null)
    {
        options.Validate();
        generator ??= new SyntheticVideoGenerator();
        var model = start is null ? DemoModelInit.Create(config ?? DemoTrainingOptions.DemoConfig, options.Seed, options.GammaInit, options.TemporalInitScale) : Unfreeze(start);
        try
        {
            var history = Run(model, options, corpus, generator, firstClip, progress, checkpoint, cancellation);
            model.eval();
            foreach (var p in model.parameters()) p.requires_grad = false;
            return new DemoTrainingResult(model, history.Steps, history.Elapsed);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    private static (List<DemoTrainingProgress> Steps, TimeSpan Elapsed) Run(UniPerceiverMoeModel model, DemoTrainingOptions options,
        DemoCorpus corpus, SyntheticVideoGenerator generator, long firstClip, IProgress<DemoTrainingProgress>? progress,
        Action<int, UniPerceiverMoeModel>? checkpoint, CancellationToken cancellation)
    {
        var trainable = model.parameters().Where(p => p.requires_grad).ToArray();
        using var optimizer = new HeldScalarAdam(trainable, beta1: 0.9, beta2: 0.98, eps: 1e-8);
        using var noise = new Generator((ulong)options.Seed);
        var objective = new DemoObjective(model, corpus);
        var distractorRng = new Random(SyntheticVideoGenerator.ClipSeed(options.Seed, -1 - firstClip));
        var corpusIds = corpus.WordIds.ToHashSet();
        var history = new List<DemoTrainingProgress>();
        var clock = Stopwatch.StartNew();
        for (int step = 0; step < options.Steps; step++)
        {
            cancellation.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            using var batch = DemoBatch.Create(generator, corpus, options.Seed, firstClip + (long)step * options.BatchSize, options.BatchSize);
            var distractors = Distractors(distractorRng, corpusIds, options.Distractors, model.Config.VocabSize);
            using var executor = new TrainingMoeExecutor(model, options.GateNoiseStd, noise);
            double lr = options.LearningRate * options.LearningRateFactor(step);
            optimizer.ZeroGrad();
            var losses = objective.Compute(batch, executor, distractors);
            losses.Total.backward();
            nn.utils.clip_grad_norm_(trainable, options.ClipNorm);
            optimizer.Step(lr);
            if ((step + 1) % options.LogEvery == 0 || step + 1 == options.Steps || step == 0)
            {
                var record = new DemoTrainingProgress(step + 1, options.Steps, losses.Total.item<float>(), losses.Caption,
                    losses.Classification, losses.CaptionTokenAccuracy, losses.LabelAccuracies, lr, clock.Elapsed);
                history.Add(record);
                progress?.Report(record);
            }
            if (checkpoint is not null && options.CheckpointEvery > 0 && (step + 1) % options.CheckpointEvery == 0 && step + 1 < options.Steps)
                checkpoint(step + 1, model);
        }
        return (history, clock.Elapsed);
    }

    /// <summary>Gradients on for every parameter except the fixed spatial table; train mode.</summary>
    private static UniPerceiverMoeModel Unfreeze(UniPerceiverMoeModel model)
    {
        foreach (var (name, p) in model.named_parameters())
            p.requires_grad = !name.EndsWith("spatial_pos_embed.weight", StringComparison.Ordinal);
        model.train();
        return model;
    }

    /// <summary><paramref name="count"/> distinct word ids outside the corpus, drawn uniformly from the vocabulary.</summary>
    internal static long[] Distractors(Random rng, IReadOnlySet<long> corpus, int count, int vocabulary)
    {
        var chosen = new HashSet<long>();
        while (chosen.Count < Math.Min(count, vocabulary - corpus.Count))
        {
            long id = rng.Next(vocabulary);
            if (!corpus.Contains(id)) chosen.Add(id);
        }
        return chosen.Order().ToArray();
    }
}
