using System.CommandLine;
using UniPerceiverMoe.Model;
using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.Demo.Synthetic;
using UniPerceiverMoe.Model.Tokenization;
using UniPerceiverMoe.Demo.Training;

namespace UniPerceiverMoe.Host.Cli.Commands;

/// <summary>
/// <c>upmoe train-demo [--out DIR] [--steps N] [--seed S]</c>: trains the tiny demo Uni-Perceiver-MoE on synthetic
/// shape videos and writes model.safetensors + config.json + demo.json. Progress on stderr, summary on stdout.
/// </summary>
public static class TrainDemoCommand
{
    public static Command Create()
    {
        var defaults = new DemoTrainingOptions();
        var output = new Option<string>("--out") { Description = "Directory for model.safetensors, config.json and demo.json.", DefaultValueFactory = _ => "demo-model" };
        var steps = new Option<int>("--steps") { Description = "Optimizer steps (each on freshly generated clips).", DefaultValueFactory = _ => defaults.Steps };
        var seed = new Option<long>("--seed") { Description = "Seed of initialisation, training clips, distractor words and gate noise.", DefaultValueFactory = _ => defaults.Seed };
        var batch = new Option<int>("--batch") { Description = "Clips per step.", DefaultValueFactory = _ => defaults.BatchSize };
        var lr = new Option<double>("--lr") { Description = "Peak Adam learning rate.", DefaultValueFactory = _ => defaults.LearningRate };
        var init = new Option<string?>("--init") { Description = "Continue training the demo model in this directory (fresh clips, new Adam state and schedule)." };
        var temporal = new Option<float>("--temporal-scale") { Description = "Scale of the sin-cos start of the temporal position table (frame-order signal).", DefaultValueFactory = _ => defaults.TemporalInitScale };
        var shape = new Option<string?>("--model-config") { Description = "Model shape as a config.json (golden-fixture keys) instead of the demo default (Tiny, patch 32, 4 frames); ignored with --init." };
        var vocab = new Option<string?>("--vocab") { Description = "CLIP BPE vocabulary (default: the cached bpe_simple_vocab_16e6.txt)." };
        var store = new Option<string>("--store")
        {
            Description = "Precision of the written weights: float32, or float16 (half the file; how the shipped demo model is stored).",
            DefaultValueFactory = _ => "float32",
        };
        store.AcceptOnlyFromAmong("float32", "float16");
        var threads = DemoCommandRunner.ThreadsOption();
        var command = new Command("train-demo", "Train a tiny Uni-Perceiver-MoE that captions and classifies synthetic shape videos.")
        {
            output, steps, seed, batch, lr, init, shape, temporal, vocab, store, threads,
        };
        DemoCommandRunner.Bind(command, threads, (parse, stdout, stderr, cancellation) =>
        {
            var options = new DemoTrainingOptions
            {
                Steps = parse.GetValue(steps),
                Seed = parse.GetValue(seed),
                BatchSize = parse.GetValue(batch),
                LearningRate = parse.GetValue(lr),
                TemporalInitScale = parse.GetValue(temporal),
            }.Validate();
            string dir = parse.GetValue(output)!;
            var corpus = new DemoCorpus(ClipTokenizer.Load(parse.GetValue(vocab)));
            var generator = new SyntheticVideoGenerator();
            var config = parse.GetValue(shape) is { } shapeFile ? UniPerceiverConfig.FromJsonFile(shapeFile) : DemoTrainingOptions.DemoConfig;
            stderr.WriteLine($"train-demo: {options.Steps} steps × {options.BatchSize} clips, seed {options.Seed}, {corpus.WordIds.Length} corpus words; " +
                $"{config.Layers} layers, D {config.Hidden}, {config.Experts} experts top-{config.TopK}, patch {config.Patch}, {generator.Options.FramesPerClip} frames");
            DemoManifest? previous = null;
            Model.Modules.UniPerceiverMoeModel? start = null;
            if (parse.GetValue(init) is { } from)
            {
                (start, previous) = DemoModelFiles.Load(from);
                stderr.WriteLine($"train-demo: continuing {from} after {previous.Steps} steps ({previous.TrainingClips} clips)");
            }
            DemoManifest Manifest(int stepsDone, double seconds, float loss) => new(
                DemoManifest.CurrentFormat, CaptionGrammar.Description, corpus.WordIds,
                corpus.WordIds.Select(id => corpus.Tokenizer.Decode([(int)id]).Trim()).ToArray(), VocabularyBank.EndOfText,
                CaptionGrammar.ShapeLabels, CaptionGrammar.ColourLabels, CaptionGrammar.ActionLabels,
                DemoVideoLayout.From(generator.Options), options.Seed, (previous?.Steps ?? 0) + stepsDone, options.BatchSize,
                (previous?.TrainingClips ?? 0) + (long)stepsDone * options.BatchSize,
                Math.Round((previous?.TrainingSeconds ?? 0) + seconds, 1), loss);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            float lastLoss = float.NaN;
            var lines = new Lines(stderr, p => lastLoss = p.Loss);
            var storage = parse.GetValue(store) == "float16" ? TorchSharp.torch.ScalarType.Float16 : TorchSharp.torch.ScalarType.Float32;
            void Checkpoint(int done, Model.Modules.UniPerceiverMoeModel m)
            {
                DemoModelFiles.Save(dir, m, Manifest(done, clock.Elapsed.TotalSeconds, lastLoss), storage);
                stderr.WriteLine($"train-demo: checkpoint after step {done} in {dir}");
            }
            var result = DemoTrainer.Train(options, corpus, start?.Config ?? config, generator, lines, cancellation,
                start, previous?.TrainingClips ?? 0, Checkpoint);
            using var model = result.Model;
            var last = result.History[^1];
            var manifest = Manifest(options.Steps, result.Elapsed.TotalSeconds, last.Loss);
            DemoModelFiles.Save(dir, model, manifest, storage);
            long parameters = model.parameters().Sum(p => p.numel());
            stdout.WriteLine($"wrote {Path.Combine(dir, DemoModelFiles.ModelFile)} ({parameters:N0} parameters), {DemoModelFiles.ConfigFile}, {DemoModelFiles.ManifestFile}");
            stdout.WriteLine($"training time: {result.Elapsed.TotalSeconds:F0} s; last step: loss {last.Loss:F4}, caption-token accuracy {100 * last.CaptionTokenAccuracy:F1} %, " +
                $"shape/colour/action accuracy {string.Join("/", last.LabelAccuracies.Select(a => $"{100 * a:F0}"))} %");
            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary>Each progress record as one stderr line, written synchronously (in step order).</summary>
    private sealed class Lines(TextWriter error, Action<DemoTrainingProgress> seen) : IProgress<DemoTrainingProgress>
    {
        public void Report(DemoTrainingProgress value)
        {
            seen(value);
            error.WriteLine($"train-demo: {value}");
            error.Flush();
        }
    }
}
