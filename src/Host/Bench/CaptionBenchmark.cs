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
        double imageDecode = 0;
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
            if (frames == 1) imageDecode = mono.Decode;
        }

        var perCaption = BatchedDecode(monolithic, config, bank, captionOptions, options.DecodeBatches ?? [1, 8, 32], options.Rounds, output);

        if (trained)
        {
            // Trained captions end after a few words, so decode seconds over MaxLength is no step's cost: no floor ratio.
            output.WriteLine("decode step: not reported for trained weights (captions end early); use --config tiny or base");
            foreach (var (b, cost) in perCaption.Where(p => p.Key != 1))
                output.WriteLine($"batched decode B={b}: {cost:0.000} s per caption");
        }
        else
        {
            int prefixTokens = 1 + config.PatchesPerFrame;
            double step = imageDecode / captionOptions.MaxLength;
            double stepBytes = CaptionCost.MeanDecodeStepBytes(config, 1, captionOptions.BeamSize, prefixTokens, captionOptions.MaxLength, bank.Count);
            double floor = stepBytes / bandwidth.Best, readFloor = stepBytes / bandwidth.ReadBytesPerSecond;
            output.WriteLine($"decode step, at the read-only sum's rate: floor {readFloor * 1e3:0.000} ms, ratio {step / readFloor:0.00} (a step only reads)");
            output.WriteLine($"decode step: {step * 1e3:0.00} ms (memory floor {floor * 1e3:0.000} ms, ratio {step / floor:0.00})");
            if (perCaption.TryGetValue(1, out var single))
                foreach (var (b, cost) in perCaption.Where(p => p.Key != 1))
                {
                    // A batch's step is bound by its multiply-adds once it has enough rows, and never by less than its reads.
                    double flops = CaptionCost.MeanDecodeStepFlops(config, b, captionOptions.BeamSize, prefixTokens, captionOptions.MaxLength, bank.Count);
                    double reads = CaptionCost.MeanDecodeStepBytes(config, b, captionOptions.BeamSize, prefixTokens, captionOptions.MaxLength, bank.Count);
                    double batchStep = cost * b / captionOptions.MaxLength, batchFloor = Math.Max(flops / fma, reads / bandwidth.ReadBytesPerSecond);
                    output.WriteLine($"batched decode B={b}: step {batchStep * 1e3:0.00} ms (floor {batchFloor * 1e3:0.00} ms: {flops / 1e9:0.00} GFLOP at the " +
                                     $"multiply-add peak {flops / fma * 1e3:0.00} ms, {reads / 1e6:0} MB at the read-only rate {reads / bandwidth.ReadBytesPerSecond * 1e3:0.00} ms; " +
                                     $"ratio {batchStep / batchFloor:0.00}); at the floor a caption would cost {batchFloor * captionOptions.MaxLength / b / single:0.00}x of B=1");
                    output.WriteLine($"batched decode B={b}: {cost:0.000} s per caption ({cost / single:0.00}x of B=1)");
                }
        }
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

    /// <summary>Decode seconds per caption when <c>B</c> image prefixes decode as one batch: every B once untimed, then
    /// <paramref name="rounds"/> rounds that time each B in turn, and the median per B. Interleaving the sizes keeps the
    /// machine's drift (this shared machine's speed moves 20–30 % within minutes) out of the ratios between them.</summary>
    private static SortedDictionary<int, double> BatchedDecode(UniPerceiverRunner runner, UniPerceiverConfig config, VocabularyBank bank,
        CaptionOptions options, int[] batches, int rounds, TextWriter output)
    {
        var sizes = batches.Distinct().Order().ToArray();
        if (sizes.Length > 0 && sizes[0] < 1) throw new ArgumentException($"decode batch sizes must be at least 1 (got {sizes[0]}).");
        var prefixes = new Dictionary<int, LayerKv[]>();
        var times = sizes.ToDictionary(b => b, _ => new List<double>());
        var toCaption = sizes.ToDictionary(b => b, _ => new List<double>());   // mean seconds until a window's result is final
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
                    var final = new double[b];
                    long start = Stopwatch.GetTimestamp();
                    CaptionBeamSearcher.DecodeFromPrefix(runner, prefixes[b], bank, options,
                        final: (i, _) => final[i] = Stopwatch.GetElapsedTime(start).TotalSeconds);
                    double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                    if (round < 0) continue;
                    times[b].Add(seconds);
                    toCaption[b].Add(final.Average());
                }
        }
        finally
        {
            foreach (var kv in prefixes.Values.SelectMany(p => p)) kv.Dispose();
        }
        var perCaption = new SortedDictionary<int, double>();
        // A window's caption is delivered when its result is final (its beams have all ended), not when its batch ends.
        output.WriteLine($"| decode batch B | decode s (median of {rounds}, sizes interleaved) | s per caption | mean s to a window's caption |");
        output.WriteLine("|---|---|---|---|");
        foreach (int b in sizes)
        {
            double seconds = BenchStatistics.Median(times[b]);
            perCaption[b] = seconds / b;
            output.WriteLine($"| {b} | {seconds:0.000} | {seconds / b:0.000} | {BenchStatistics.Median(toCaption[b]):0.000} |");
        }
        return perCaption;
    }

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
