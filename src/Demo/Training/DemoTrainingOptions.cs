using UniPerceiverMoe.Model;

namespace UniPerceiverMoe.Demo.Training;

/// <summary>
/// Settings of the demo training run. Defaults are the recipe of docs/benchmarks-training.md: 4,000 steps of Adam
/// (β 0.9/0.98, peak lr 7e-4), linear warm-up then cosine decay to 10 %, gradient clipping at 1, batch 16, 256
/// distractor words per step, a temporal table started at 4× sin-cos. Changing them: bump
/// <see cref="DemoModelFiles.CacheDirectoryName"/>.
/// </summary>
public sealed record DemoTrainingOptions
{
    public int Steps { get; init; } = 4000;
    public int BatchSize { get; init; } = 16;
    public double LearningRate { get; init; } = 7e-4;
    public int WarmupSteps { get; init; } = 40;
    public double ClipNorm { get; init; } = 1.0;
    /// <summary>Seed of the initialisation, the training clips, the distractors and the gate noise.</summary>
    public long Seed { get; init; } = 1;
    /// <summary>Random non-corpus word ids added to the bank each step (negatives for full-vocabulary decoding).</summary>
    public int Distractors { get; init; } = 256;
    /// <summary>Start value of the LayerScale γ's (see <see cref="DemoModelInit.Create"/>).</summary>
    public float GammaInit { get; init; } = 0.5f;
    /// <summary>Scale of the 1-D sin-cos start of the temporal table (see <see cref="DemoModelInit.Create"/>).</summary>
    public float TemporalInitScale { get; init; } = 4f;
    /// <summary>σ of the 'vmoe' gate noise; the reference uses NOISE_STD / experts = 1/8.</summary>
    public double GateNoiseStd { get; init; } = 0.125;
    /// <summary>Hand the model to the checkpoint callback every this many steps (0: never).</summary>
    public int CheckpointEvery { get; init; } = 100;
    /// <summary>Print a progress line every this many steps.</summary>
    public int LogEvery { get; init; } = 10;

    /// <summary>The demo model's shape: the Tiny encoder (4 layers, D 64, 2 heads, FFN 256, 8 experts top-2 in
    /// layers 0 and 2) with 32-pixel patches on the standard 224 input (7×7 = 49 patches per frame, so the usual
    /// TimesformerTest preprocessing applies unchanged) and a 4-frame temporal table.</summary>
    public static UniPerceiverConfig DemoConfig { get; } = UniPerceiverConfig.Tiny with { Patch = 32, MaxFrames = 4 };

    public DemoTrainingOptions Validate()
    {
        if (Steps < 1 || BatchSize < 1) throw new ArgumentException("steps and batch size must be positive.");
        if (!(LearningRate > 0)) throw new ArgumentException($"learning rate must be positive (got {LearningRate}).");
        if (WarmupSteps < 0 || Distractors < 0 || GateNoiseStd < 0) throw new ArgumentException("warm-up, distractors and gate noise must be ≥ 0.");
        return this;
    }

    /// <summary>Learning-rate factor at <paramref name="step"/>: linear warm-up, then cosine from 1 to 0.1.</summary>
    public double LearningRateFactor(int step)
    {
        if (step < WarmupSteps) return (step + 1.0) / WarmupSteps;
        double t = Steps <= WarmupSteps ? 1 : (double)(step - WarmupSteps) / (Steps - WarmupSteps);
        return 0.1 + 0.9 * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1, t)));
    }
}
