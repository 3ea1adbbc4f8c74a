using System.Diagnostics;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Bench;
using UniPerceiverMoe.Demo.Training;
using UniPerceiverMoe.Host.Cli;
using UniPerceiverMoe.Model;
using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Host.Bench;

/// <summary>
/// Caption latency split into encode (visual prefix + K/V cache) and decode (beam search steps), for one image and one
/// 4-frame video, monolithic and through the embedded engine; plus vocabulary-bank build and load times.
/// </summary>
public static class CaptionBenchmark
{
    public sealed record Options(string Size = "tiny", int Threads = 2, int Rounds = 3, int BankWords = 2000, int[]? DecodeBatches = null, int BankBatch = VocabularyBank.DefaultBatchSize);

    public static async Task RunAsync(Options options, TextWriter output)
    {
        set_num_threads(options.Threads);
        var (model, trained) = LoadModel(options.Size);
        using var _ = model;
        var config = model.Config;
        var captionOptions = new CaptionOptions();
        output.WriteLine($"caption benchmark: {options.Size}, {(trained ? "the shipped demo model's trained weights" : "random weights")}, fp32, cpu, torch threads {options.Threads}, " +
                         $"beam {captionOptions.BeamSize}, {captionOptions.MaxLength} steps, {options.BankWords}-word bank, median of {options.Rounds}");
        var routes = new RouteTable(model);
        using var local = new LocalMoeExecutor(model, routes);
        var monolithic = new UniPerceiverRunner(model, local);

        var bandwidth = MachineProbe.MeasureBandwidth();
        double gemm = MachineProbe.MeasureGemm();
        double fma = MachineProbe.MeasureFmaPeak(options.Threads);
        output.WriteLine($"machine: STREAM copy {bandwidth.CopyBytesPerSecond / 1e9:0.0} GB/s, triad {bandwidth.TriadBytesPerSecond / 1e9:0.0} GB/s, " +
                         $"read-only sum {bandwidth.ReadBytesPerSecond / 1e9:0.0} GB/s (512 MiB buffers); GEMM probe [197x768]x[768x3072] {gemm / 1e9:0.0} GFLOP/s; " +
                         $"multiply-add peak {fma / 1e9:0} GFLOP/s ({options.Threads} thread{(options.Threads == 1 ? "" : "s")}, registers only)");

        var ids = Enumerable.Range(0, Math.Min(options.BankWords, config.VocabSize)).Select(i => (long)i)
            .Append(VocabularyBank.EndOfText).Distinct().ToArray();
        VocabularyBank.Build(monolithic, ids.Take(16).ToArray()).Dispose();     // warm-up: merges the bank route's weights
        var watch = Stopwatch.StartNew();
        using var bank = VocabularyBank.Build(monolithic, ids, options.BankBatch);
        double build = watch.Elapsed.TotalSeconds;
        double bankRate = CaptionCost.BankFlops(config, ids.Length, VocabularyBank.LastLayerQueries) / build;
        output.WriteLine($"vocabulary bank build: {ids.Length} words in batches of {options.BankBatch} in {build:0.00} s ({build * 1000 / ids.Length:0.00} s per 1,000 words; " +
                         $"≈ {build * config.VocabSize / ids.Length:0} s for all {config.VocabSize}: built once per checkpoint, then cached)");
        output.WriteLine($"vocabulary bank load (all {config.VocabSize} rows from the disk cache): {MeasureFullBankLoad(config):0} ms");

        await using var engine = UniPerceiverEngine.Start(UpmoeConfig.Parse(""), new EngineStartOptions { Model = model });
        output.WriteLine("| input | path | encode s | decode s | total s |");
        output.WriteLine("|---|---|---|---|---|");
        foreach (var (name, frames) in new[] { ("image", 1), ("video 4 frames", 4) })
        {
            manual_seed(2);
            using var pixels = randn([1, frames, 3, config.ImageSize, config.ImageSize]);
            // Interleaved rounds (monolithic, engine, monolithic, …) so drift on a shared machine hits both alike.
            var monoRuns = new List<(double, double)>();
            var engRuns = new List<(double, double)>();
            for (int round = -1; round < options.Rounds; round++)
            {
                var m = Measure(monolithic, pixels, bank, captionOptions);
                var e = engine.RunAsync(r => Measure(r, pixels, bank, captionOptions), "bench", default).GetAwaiter().GetResult();
                if (round < 0) continue;                                   // warm-up
                monoRuns.Add(m);
                engRuns.Add(e);
            }
            var mono = Median(monoRuns);
            var eng = Median(engRuns);
            output.WriteLine($"| {name} | monolithic | {mono.Encode:0.000} | {mono.Decode:0.000} | {mono.Encode + mono.Decode:0.000} |");
            output.WriteLine($"| {name} | embedded engine | {eng.Encode:0.000} | {eng.Decode:0.000} | {eng.Encode + eng.Decode:0.000} |");
        }

        var rounds = BatchedDecode(monolithic, config, bank, captionOptions, options.DecodeBatches ?? [1, 8, 32], options.Rounds, options.Threads, output);

        if (trained)
        {
            // Trained captions end after a few words, so decode seconds over MaxLength is no step's cost: no floor ratio.
            output.WriteLine("decode step: not reported for trained weights (captions end early); use --config tiny or base");
            foreach (var (b, runs) in rounds.Where(p => p.Key != 1))
                output.WriteLine($"batched decode B={b}: {PerCaption(runs, b):0.000} s per caption");
        }
        else
            ReportFloors(config, captionOptions, bank.Count, rounds, output);
        output.WriteLine($"vocabulary bank: {bankRate / 1e9:0.0} GFLOP/s (GEMM probe {gemm / 1e9:0.0} GFLOP/s, ratio {bankRate / gemm:0.00})");
    }

    /// <summary>A named size with random weights (its captions run to the last step), or "demo": the shipped demo model,
    /// trained, whose captions end after a few words and at different steps (what early delivery is measured on).</summary>
    private static (UniPerceiverMoeModel Model, bool Trained) LoadModel(string size)
    {
        if (!size.Equals("demo", StringComparison.OrdinalIgnoreCase)) return (ModelLoader.Random(UniPerceiverConfig.Named(size), seed: 0), false);
        if (!DemoModelLocator.IsComplete(DemoModelLocator.Shipped))
            throw new ArgumentException($"--config demo: no shipped demo model in {DemoModelLocator.Shipped}.");
        var (model, _) = DemoModelFiles.Load(DemoModelLocator.Shipped);
        model.eval();
        return (model, true);
    }

    /// <summary>One timed decode of one batch size, with the machine's floors measured just before it.</summary>
    /// <param name="Seconds">The batch's decode.</param>
    /// <param name="ToCaption">The mean seconds until a window's result was final.</param>
    /// <param name="Bandwidth">STREAM copy/triad and the read-only sum, best of two, measured right before.</param>
    /// <param name="FmaPeak">The multiply-add peak (FLOP/s), best of two, measured right before.</param>
    private sealed record DecodeRound(double Seconds, double ToCaption, MachineProbe.Bandwidth Bandwidth, double FmaPeak);

    /// <summary>Decodes when <c>B</c> image prefixes decode as one batch: every B once untimed, then
    /// <paramref name="rounds"/> rounds that time each B in turn (B = 1 always among them: the decode step and every
    /// batch are set against it). Interleaving the sizes keeps the machine's drift (this shared machine's speed moves
    /// 20–30 % within minutes) out of the ratios between them, and each decode has the floors measured beside it, so
    /// its ratio to them compares figures from the same phase of the machine.</summary>
    private static SortedDictionary<int, List<DecodeRound>> BatchedDecode(UniPerceiverRunner runner, UniPerceiverConfig config,
        VocabularyBank bank, CaptionOptions options, int[] batches, int rounds, int threads, TextWriter output)
    {
        var sizes = batches.Append(1).Distinct().Order().ToArray();
        if (sizes[0] < 1) throw new ArgumentException($"decode batch sizes must be at least 1 (got {sizes[0]}).");
        var prefixes = new Dictionary<int, LayerKv[]>();
        var runs = new SortedDictionary<int, List<DecodeRound>>(sizes.ToDictionary(b => b, _ => new List<DecodeRound>()));
        using var probe = new MachineProbe.BandwidthProbe();
        try
        {
            foreach (int b in sizes)
            {
                manual_seed(3);
                using var pixels = randn([b, 1, 3, config.ImageSize, config.ImageSize]);
                prefixes[b] = CaptionBeamSearcher.EncodePrefix(runner, pixels, MoeAttribute.CaptionVisual);
            }
            // Untimed first: a batch size's first run also pays the JIT's first tiers for the kernel blocks that size
            // uses (B = 8 measured 2.23 s, then 1.67 s; docs/benchmarks.md, "Panel linears").
            for (int round = -1; round < rounds; round++)
                foreach (int b in sizes)
                {
                    var bandwidth = round < 0 ? null : probe.Measure(rounds: 2);
                    double fma = round < 0 ? 0 : MachineProbe.MeasureFmaPeak(threads, rounds: 2);
                    var final = new double[b];
                    long start = Stopwatch.GetTimestamp();
                    CaptionBeamSearcher.DecodeFromPrefix(runner, prefixes[b], bank, options,
                        final: (i, _) => final[i] = Stopwatch.GetElapsedTime(start).TotalSeconds);
                    double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                    if (round < 0) continue;
                    runs[b].Add(new DecodeRound(seconds, final.Average(), bandwidth!, fma));
                }
        }
        finally
        {
            foreach (var kv in prefixes.Values.SelectMany(p => p)) kv.Dispose();
        }
        // A window's caption is delivered when its result is final (its beams have all ended), not when its batch ends.
        output.WriteLine($"| decode batch B | decode s (median of {rounds}, sizes interleaved) | s per caption | mean s to a window's caption |");
        output.WriteLine("|---|---|---|---|");
        foreach (var (b, list) in runs)
            output.WriteLine($"| {b} | {Median(list, r => r.Seconds):0.000} | {PerCaption(list, b):0.000} | {Median(list, r => r.ToCaption):0.000} |");
        // How far the machine moved during the rounds (compare with the machine line measured at the start).
        var all = runs.Values.SelectMany(r => r).ToList();
        string Span(Func<DecodeRound, double> value, double scale) => $"{all.Min(value) / scale:0.0}–{all.Max(value) / scale:0.0}";
        output.WriteLine($"machine beside the rounds: STREAM {Span(r => r.Bandwidth.Best, 1e9)} GB/s, read-only sum {Span(r => r.Bandwidth.ReadBytesPerSecond, 1e9)} GB/s, " +
                         $"multiply-add peak {Span(r => r.FmaPeak, 1e9)} GFLOP/s");
        return runs;
    }

    /// <summary>The decode step (B = 1) against the memory floors, and every other batch's step against its own floor,
    /// each ratio the median of the rounds' ratios to the floors measured beside them, with their range.</summary>
    private static void ReportFloors(UniPerceiverConfig config, CaptionOptions options, int bankWords,
        SortedDictionary<int, List<DecodeRound>> rounds, TextWriter output)
    {
        int prefixTokens = 1 + config.PatchesPerFrame, steps = options.MaxLength;
        var single = rounds[1];
        double stepBytes = CaptionCost.MeanDecodeStepBytes(config, 1, options.BeamSize, prefixTokens, steps, bankWords);
        double Step(DecodeRound r) => r.Seconds / steps;
        var streamRatios = single.Select(r => Step(r) / (stepBytes / r.Bandwidth.Best)).ToList();
        var readRatios = single.Select(r => Step(r) / (stepBytes / r.Bandwidth.ReadBytesPerSecond)).ToList();
        double step = Median(single, Step);
        output.WriteLine($"decode step, at the read-only sum's rate: floor {Median(single, r => stepBytes / r.Bandwidth.ReadBytesPerSecond) * 1e3:0.000} ms, " +
                         $"ratio {BenchStatistics.Median(readRatios):0.00} (a step only reads)");
        output.WriteLine($"decode step: {step * 1e3:0.00} ms (memory floor {Median(single, r => stepBytes / r.Bandwidth.Best) * 1e3:0.000} ms, " +
                         $"ratio {BenchStatistics.Median(streamRatios):0.00})");
        output.WriteLine($"decode step floors, measured beside each of the {single.Count} B=1 rounds: ratio {Range(streamRatios)} to the STREAM floor, " +
                         $"{Range(readRatios)} to the read-only floor (the ratios above are their medians)");
        // The STREAM floor counts the triad's write stream, which a step does not have: a step that did nothing but
        // read its bytes at the read-only sum's rate measured beside it would still sit this far above that floor.
        var readOnlyBound = single.Select(r => r.Bandwidth.Best / r.Bandwidth.ReadBytesPerSecond).ToList();
        output.WriteLine($"decode step, the least its STREAM ratio can be here: {BenchStatistics.Median(readOnlyBound):0.00} " +
                         $"(rounds {Range(readOnlyBound)}), a step doing nothing but reading its bytes at the read-only sum's rate");
        double singleCaption = PerCaption(single, 1);
        foreach (var (b, runs) in rounds.Where(p => p.Key != 1))
        {
            // A batch's step is bound by its multiply-adds once it has enough rows, and never by less than its reads.
            double flops = CaptionCost.MeanDecodeStepFlops(config, b, options.BeamSize, prefixTokens, steps, bankWords);
            double reads = CaptionCost.MeanDecodeStepBytes(config, b, options.BeamSize, prefixTokens, steps, bankWords);
            double Floor(DecodeRound r) => Math.Max(flops / r.FmaPeak, reads / r.Bandwidth.ReadBytesPerSecond);
            var ratios = runs.Select(r => Step(r) / Floor(r)).ToList();
            double floor = Median(runs, Floor), cost = PerCaption(runs, b);
            var pairs = runs.Zip(single, (batch, one) => batch.Seconds / b / one.Seconds).ToList();
            output.WriteLine($"batched decode B={b}: step {Median(runs, Step) * 1e3:0.00} ms (floor {floor * 1e3:0.00} ms: {flops / 1e9:0.00} GFLOP at the " +
                             $"multiply-add peak {Median(runs, r => flops / r.FmaPeak) * 1e3:0.00} ms, {reads / 1e6:0} MB at the read-only rate " +
                             $"{Median(runs, r => reads / r.Bandwidth.ReadBytesPerSecond) * 1e3:0.00} ms; ratio {BenchStatistics.Median(ratios):0.00}, " +
                             $"per round {Range(ratios)}); at the floor a caption would cost {floor * steps / b / singleCaption:0.00}x of B=1");
            output.WriteLine($"batched decode B={b}: {cost:0.000} s per caption ({cost / singleCaption:0.00}x of B=1; round by round {Range(pairs)})");
        }
    }

    private static double PerCaption(List<DecodeRound> runs, int b) => Median(runs, r => r.Seconds) / b;

    private static double Median(List<DecodeRound> runs, Func<DecodeRound, double> value) => BenchStatistics.Median(runs.Select(value).ToList());

    private static string Range(List<double> values) => $"{values.Min():0.00}–{values.Max():0.00}";

    private static (double Encode, double Decode) Measure(UniPerceiverRunner runner, Tensor pixels, VocabularyBank bank, CaptionOptions options)
    {
        var start = Stopwatch.GetTimestamp();
        var prefix = CaptionBeamSearcher.EncodePrefix(runner, pixels, MoeAttribute.CaptionVisual);
        double encode = Stopwatch.GetElapsedTime(start).TotalSeconds;
        start = Stopwatch.GetTimestamp();
        CaptionBeamSearcher.DecodeFromPrefix(runner, prefix, bank, options);
        double decode = Stopwatch.GetElapsedTime(start).TotalSeconds;
        foreach (var kv in prefix) kv.Dispose();
        return (encode, decode);
    }

    private static (double Encode, double Decode) Median(List<(double Encode, double Decode)> runs) =>
        (BenchStatistics.Median(runs.Select(r => r.Encode).ToList()), BenchStatistics.Median(runs.Select(r => r.Decode).ToList()));

    /// <summary>Writes a bank of the full vocabulary size and times loading it back (what every later start pays).</summary>
    private static double MeasureFullBankLoad(UniPerceiverConfig config)
    {
        var path = Path.Combine(Path.GetTempPath(), $"upmoe-bench-bank-{Environment.ProcessId}.safetensors");
        try
        {
            using (var rows = nn.functional.normalize(randn(config.VocabSize, config.Hidden), dim: -1))
            using (var full = new VocabularyBank(rows.alias(), Enumerable.Range(0, config.VocabSize).Select(i => (long)i).ToArray()))
                full.Save(path, new Dictionary<string, string> { ["format"] = "bench" });
            var watch = Stopwatch.StartNew();
            using var loaded = VocabularyBank.Load(path);
            return watch.Elapsed.TotalMilliseconds;
        }
        finally
        {
            File.Delete(path);
        }
    }
}
