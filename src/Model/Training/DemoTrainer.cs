using System.Diagnostics;
using TorchSharp;
using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Synthetic;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Training;

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
    public static DemoTrainingResult Train(DemoTrainingOptions options, DemoCorpus corpus, UniPerceiverConfig? config = null,
        SyntheticVideoGenerator? generator = null, IProgress<DemoTrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        options.Validate();
        generator ??= new SyntheticVideoGenerator();
        var model = DemoModelInit.Create(config ?? DemoTrainingOptions.DemoConfig, options.Seed, options.GammaInit);
        try
        {
            var history = Run(model, options, corpus, generator, progress, cancellation);
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
        DemoCorpus corpus, SyntheticVideoGenerator generator, IProgress<DemoTrainingProgress>? progress, CancellationToken cancellation)
    {
        var trainable = model.parameters().Where(p => p.requires_grad).ToArray();
        using var optimizer = optim.Adam(trainable, options.LearningRate, beta1: 0.9, beta2: 0.98, eps: 1e-8);
        var schedule = optim.lr_scheduler.LambdaLR(optimizer, options.LearningRateFactor);
        using var noise = new Generator((ulong)options.Seed);
        var objective = new DemoObjective(model, corpus);
        var distractorRng = new Random(SyntheticVideoGenerator.ClipSeed(options.Seed, -1));
        var corpusIds = corpus.WordIds.ToHashSet();
        var history = new List<DemoTrainingProgress>();
        var clock = Stopwatch.StartNew();
        for (int step = 0; step < options.Steps; step++)
        {
            cancellation.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            using var batch = DemoBatch.Create(generator, corpus, options.Seed, (long)step * options.BatchSize, options.BatchSize);
            var distractors = Distractors(distractorRng, corpusIds, options.Distractors, model.Config.VocabSize);
            using var executor = new TrainingMoeExecutor(model, options.GateNoiseStd, noise);
            optimizer.zero_grad();
            var losses = objective.Compute(batch, executor, distractors);
            losses.Total.backward();
            nn.utils.clip_grad_norm_(trainable, options.ClipNorm);
            double lr = options.LearningRate * options.LearningRateFactor(step);
            optimizer.step();
            schedule.step();
            if ((step + 1) % options.LogEvery == 0 || step + 1 == options.Steps || step == 0)
            {
                var record = new DemoTrainingProgress(step + 1, options.Steps, losses.Total.item<float>(), losses.Caption,
                    losses.Classification, losses.CaptionTokenAccuracy, losses.LabelAccuracies, lr, clock.Elapsed);
                history.Add(record);
                progress?.Report(record);
            }
        }
        return (history, clock.Elapsed);
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
