using System.CommandLine;
using System.Diagnostics;
using UniPerceiverMoe.Model.Tokenization;
using UniPerceiverMoe.Demo.Training;

namespace UniPerceiverMoe.Host.Cli.Commands;

/// <summary>
/// <c>upmoe demo-eval [--model DIR] [--clips N] [--seed S]</c>: captions and classifies freshly generated clips with a
/// demo model (by default the one <c>upmoe demo</c> uses, see <see cref="DemoModelLocator"/>); the last stdout line
/// is <c>caption exact-match: X %, attribute accuracy: Y %</c>.
/// </summary>
public static class DemoEvalCommand
{
    public static Command Create()
    {
        var modelDir = new Option<string?>("--model") { Description = "Directory written by 'upmoe train-demo' (default: the demo model 'upmoe demo' uses).", HelpName = "DIR" };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "Cache directory; default $UPMOE_CACHE, then ~/.cache/upmoe", HelpName = "DIR" };
        var clips = new Option<int>("--clips") { Description = "Number of evaluation clips.", DefaultValueFactory = _ => 200 };
        var seed = new Option<long>("--seed") { Description = "Seed of the evaluation clips (not the training seed).", DefaultValueFactory = _ => 1000 };
        var fullBank = new Option<bool>("--full-bank") { Description = "Decode against all 49,411 words instead of the corpus words + <|endoftext|>." };
        var videoDir = new Option<string?>("--video-dir") { Description = "Write each clip as an H.264 .mp4 here and evaluate the frames ffmpeg decodes from it." };
        var show = new Option<int>("--show") { Description = "Print this many samples, mistakes first.", DefaultValueFactory = _ => 10 };
        var vocab = new Option<string?>("--vocab") { Description = "CLIP BPE vocabulary (default: the cached bpe_simple_vocab_16e6.txt)." };
        var threads = DemoCommandRunner.ThreadsOption();
        var command = new Command("demo-eval", "Evaluate a demo model on freshly generated synthetic clips (captions and shape/colour/action).")
        {
            modelDir, cacheDir, clips, seed, fullBank, videoDir, show, vocab, threads,
        };
        DemoCommandRunner.Bind(command, threads, async (parse, stdout, stderr, cancellation) =>
        {
            var options = new DemoEvalOptions
            {
                Clips = parse.GetValue(clips),
                Seed = parse.GetValue(seed),
                FullBank = parse.GetValue(fullBank),
                VideoDirectory = parse.GetValue(videoDir),
            };
            if (options.Clips < 1) throw new ArgumentException($"--clips must be at least 1 (got {options.Clips}).");
            string directory = parse.GetValue(modelDir) ?? DemoCommand.DefaultModel(parse.GetValue(cacheDir), stderr);
            var (model, manifest) = DemoModelFiles.Load(directory);
            using var _ = model;
            if (options.Seed == manifest.Seed)
                stderr.WriteLine($"demo-eval: warning: seed {options.Seed} is the training seed; these clips are not held out.");
            var clock = Stopwatch.StartNew();
            var result = await DemoEvaluator.EvaluateAsync(model, manifest, ClipTokenizer.Load(parse.GetValue(vocab)), options,
                new Counter(stderr, options.Clips), cancellation).ConfigureAwait(false);
            foreach (var s in result.Samples.OrderBy(s => s.CaptionExact).Take(parse.GetValue(show)))
                stdout.WriteLine($"{(s.CaptionExact ? "ok  " : "MISS")}  expected \"{s.Expected}\"  got \"{s.Predicted}\"");
            for (int a = 0; a < result.AttributeNames.Count; a++)
                stdout.WriteLine($"{result.AttributeNames[a]} accuracy: {100 * result.AttributeAccuracy(a):F1} %");
            string bank = options.FullBank ? "full bank (49,411 words)" : $"corpus bank ({manifest.CorpusWordIds.Count} words)";
            stdout.WriteLine($"{options.Clips} clips, seed {options.Seed}, {bank}{(options.VideoDirectory is null ? "" : ", through .mp4 files")}, {clock.Elapsed.TotalSeconds:F0} s");
            stdout.WriteLine(result.Summary);
            return 0;
        });
        return command;
    }

    /// <summary>Clips done so far, one stderr line per batch.</summary>
    private sealed class Counter(TextWriter error, int total) : IProgress<int>
    {
        public void Report(int value) => error.WriteLine($"demo-eval: {value}/{total} clips");
    }
}
