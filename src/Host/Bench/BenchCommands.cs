using System.CommandLine;

namespace UniPerceiverMoe.Host.Bench;

/// <summary><c>upmoe bench engine|caption</c>: benchmarks (never timed tests). Each ends with one summary line.</summary>
public static class BenchCommands
{
    public static Command Create()
    {
        var bench = new Command("bench", "Run a benchmark and print a table plus one summary line.");
        bench.Add(Engine());
        bench.Add(Caption());
        bench.Add(Streams());
        bench.Add(Cluster());
        bench.Add(Hop());
        bench.Add(EchoServerCommand("echo-server", "the raw TCP echo", RawEcho.Serve));
        bench.Add(EchoServerCommand("grpc-echo-server", "the gRPC echo", GrpcEcho.Serve));
        return bench;
    }

    private static Option<string> SizeOption() => new("--config")
    {
        Description = "Model size with random weights: tiny or base (Uni-Perceiver-MoE-B).",
        DefaultValueFactory = _ => "tiny",
    };

    private static Option<int> ThreadsOption() => new("--threads")
    {
        Description = "Torch intra-op threads (set explicitly so runs compare).",
        DefaultValueFactory = _ => 2,
    };

    private static Option<int> RoundsOption(int rounds) => new("--rounds")
    {
        Description = "Timed rounds per workload (medians are reported).",
        DefaultValueFactory = _ => rounds,
    };

    private static Command Engine()
    {
        var size = SizeOption();
        var threads = ThreadsOption();
        var rounds = RoundsOption(10);
        var placement = new Option<string>("--placement")
        {
            Description = "Expert placement: single, per-layer, per-expert, n-per-layer or route-aware.",
            DefaultValueFactory = _ => "single",
        };
        var device = new Option<string>("--device")
        {
            Description = "Torch device of the model, the inputs and the expert groups: cpu, cuda or cuda:N (CUDA needs a CUDA libtorch).",
            DefaultValueFactory = _ => "cpu",
        };
        device.Validators.Add(r =>
        {
            try { UniPerceiverMoe.Actors.Placement.DeviceAssignment.Validate(r.GetValueOrDefault<string>(), "--device"); }
            catch (ArgumentException e) { r.AddError(e.Message); }
        });
        var command = new Command("engine", "Embedded engine vs monolithic forward (image batch 1 and 8, 4-frame video). " +
            "Ends with 'embedded/monolithic throughput ratio: X.XX'.") { size, threads, rounds, placement, device };
        command.SetAction(async (parse, _) =>
        {
            await EngineBenchmark.RunAsync(new EngineBenchmark.Options(parse.GetValue(size)!, parse.GetValue(threads),
                parse.GetValue(rounds), Placement: parse.GetValue(placement)!, Device: parse.GetValue(device)!), Console.Out);
            return 0;
        });
        return command;
    }

    private static Command Caption()
    {
        var size = SizeOption();
        size.Description += " caption also takes demo: the shipped demo model, trained (its captions end early, at different steps).";
        var threads = ThreadsOption();
        var rounds = RoundsOption(3);
        var words = new Option<int>("--bank-words")
        {
            Description = "Vocabulary bank size for the decode timing (the reference's speed figure uses 2,000).",
            DefaultValueFactory = _ => 2000,
        };
        var batches = new Option<int[]>("--decode-batches")
        {
            Description = "Batch sizes B for the batched-decode cost per caption (B image windows decoded as one [B x beam] step); " +
                "each B is timed --rounds times, the sizes interleaved, and the median reported.",
            DefaultValueFactory = _ => [1, 8, 32],
            AllowMultipleArgumentsPerToken = true,
        };
        var bankBatch = new Option<int>("--bank-batch")
        {
            Description = "Words per encoder pass when building the vocabulary bank.",
            DefaultValueFactory = _ => UniPerceiverMoe.Model.Decoding.VocabularyBank.DefaultBatchSize,
        };
        var command = new Command("caption", "Caption latency (encode / decode split) for one image and one 4-frame video, " +
            "batched decode, vocabulary-bank build and load times, and the machine's memory and GEMM roofs. Ends with " +
            "'decode step: X ms (memory floor Y ms, ratio R)' and 'vocabulary bank: X GFLOP/s (GEMM probe Y GFLOP/s, ratio R)'.")
            { size, threads, rounds, words, batches, bankBatch };
        command.SetAction(async (parse, _) =>
        {
            await CaptionBenchmark.RunAsync(new CaptionBenchmark.Options(parse.GetValue(size)!, parse.GetValue(threads),
                parse.GetValue(rounds), parse.GetValue(words), parse.GetValue(batches), parse.GetValue(bankBatch)), Console.Out);
            return 0;
        });
        return command;
    }

    private static Command Streams()
    {
        var threads = ThreadsOption();
        var checkpoint = new Option<string?>("--checkpoint")
        {
            Description = "Checkpoint to serve; default: the tiny shape with random weights (same cost as a trained tiny model).",
        };
        var seconds = new Option<double>("--seconds") { Description = "Duration of each level, in seconds.", DefaultValueFactory = _ => 10 };
        var maxStreams = new Option<int>("--max-streams") { Description = "Largest number of streams tried.", DefaultValueFactory = _ => 64 };
        var mix = new Option<string?>("--mix")
        {
            Description = "Comma-separated tasks (caption,classify,watch): run --streams streams with these tasks in turn, once batching by route " +
                "and once with one forward per window and task; per-task latency, forwards by route, and a ratio line.",
            HelpName = "TASKS",
        };
        var streams = new Option<int>("--streams") { Description = "Streams of the --mix run (tasks in turn).", DefaultValueFactory = _ => 12 };
        var sets = new Option<string[]>("--set") { Description = "Extra HOCON over the reference settings, e.g. --set \"upmoe.streams.batches-in-flight = 2\" (repeatable)." };
        var rounds = new Option<int>("--rounds") { Description = "Runs of each --mix mode, interleaved (by route, one per window, one per window, by route, …).", DefaultValueFactory = _ => 2 };
        var command = new Command("streams", "Largest number of concurrent 30 fps live streams (4-frame windows, 1 s hop) sustained " +
            "with p99 <= 1 s. Ends with 'sustained streams: N, p99 latency: X ms, drop rate: Y %'. With --mix: mixed-task streams, " +
            "batched by route vs one forward per window.") { threads, checkpoint, seconds, maxStreams, mix, streams, rounds, sets };
        command.Validators.Add(r =>
        {
            if (r.GetValue(mix) is null && (r.GetResult(streams) is { Implicit: false } || r.GetResult(rounds) is { Implicit: false }))
                r.AddError("--streams and --rounds need --mix.");
            if (r.GetResult(rounds) is { Implicit: false } && r.GetValue(rounds) < 1) r.AddError("--rounds must be at least 1.");
            if (r.GetResult(streams) is { Implicit: false } && r.GetValue(streams) < 1) r.AddError("--streams must be at least 1.");
            foreach (var name in r.GetValue(mix)?.Split(',', StringSplitOptions.TrimEntries) ?? [])
                if (name is not ("caption" or "classify" or "watch")) r.AddError($"--mix: unknown task '{name}' (expected caption, classify or watch).");
        });
        command.SetAction(async (parse, ct) =>
        {
            var duration = TimeSpan.FromSeconds(parse.GetValue(seconds));
            if (parse.GetValue(mix) is { } tasks)
                await StreamsBenchmark.RunMixedAsync(parse.GetValue(checkpoint), parse.GetValue(threads), duration, parse.GetValue(streams), parse.GetValue(rounds),
                    tasks.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), parse.GetValue(sets) ?? [], Console.Out, ct);
            else
                await StreamsBenchmark.RunAsync(parse.GetValue(checkpoint), parse.GetValue(threads), duration, parse.GetValue(maxStreams), Console.Out, ct,
                    parse.GetValue(sets) ?? []);
            return 0;
        });
        return command;
    }

    private static Command Cluster()
    {
        var size = SizeOption();
        var threads = new Option<int>("--threads") { Description = "Torch threads of every process.", DefaultValueFactory = _ => 1 };
        var checkpoint = new Option<string?>("--checkpoint") { Description = "Checkpoint served by every node; default: random weights of --config size." };
        var placement = new Option<string>("--placement") { Description = "Expert placement over the two expert nodes.", DefaultValueFactory = _ => "per-layer" };
        var requests = new Option<int>("--requests") { Description = "Image-embedding requests per measurement.", DefaultValueFactory = _ => 32 };
        var cache = new Option<string?>("--cache-dir") { Description = "Where a random-weight checkpoint is written; default $UPMOE_CACHE, then ~/.cache/upmoe." };
        var concurrency = new Option<int>("--concurrency") { Description = "Requests in flight (and sequence executors) in both modes.", DefaultValueFactory = _ => 4 };
        var replicas = new Option<int>("--replicas") { Description = "Replicas of every expert group (upmoe.placement.replicas), kept on different nodes: a crash then costs no re-homing.", DefaultValueFactory = _ => 2 };
        var sets = new Option<string[]>("--set") { Description = "Extra HOCON for every process, e.g. --set \"upmoe-expert-pool-dispatcher.dedicated-thread-pool.thread-count = 1\" (repeatable)." };
        var wire = new Option<string>("--wire-dtype") { Description = "Payload dtype on the wire: float32, float16 or bfloat16 (upmoe.cluster.wire-dtype).", DefaultValueFactory = _ => "float32" };
        wire.AcceptOnlyFromAmong("float32", "float16", "bfloat16");
        var command = new Command("cluster", "1 frontend + 2 expert processes on 127.0.0.1 vs embedded: throughput, wire bytes per token, " +
            "recovery after kill -9. Ends with 'cluster/embedded throughput ratio: X.XX, recovery: X.X s'.") { size, threads, checkpoint, placement, replicas, requests, concurrency, wire, sets, cache };
        command.SetAction(async (parse, _) =>
        {
            var cacheDir = parse.GetValue(cache)
                ?? UniPerceiverMoe.Actors.Settings.EngineSettings.FromConfig(UniPerceiverMoe.Actors.Settings.UpmoeConfig.Reference).ResolvedCacheDir;
            await ClusterBench.RunAsync(parse.GetValue(checkpoint), parse.GetValue(size)!, cacheDir, Console.Out, new ClusterBenchSettings(
                parse.GetValue(placement)!, parse.GetValue(requests), parse.GetValue(threads), parse.GetValue(concurrency), parse.GetValue(wire)!, parse.GetValue(replicas), parse.GetValue(sets) ?? []));
            return 0;
        });
        return command;
    }

    private static Command Hop()
    {
        var seconds = new Option<double>("--seconds") { Description = "Measuring time per payload, in seconds.", DefaultValueFactory = _ => 3 };
        var sets = new Option<string[]>("--set") { Description = "Extra HOCON for both processes (repeatable)." };
        var cache = new Option<string?>("--cache-dir") { Description = "Where the random-weight tiny checkpoint (the node's placement) is written; default $UPMOE_CACHE, then ~/.cache/upmoe." };
        var payloads = new Option<string[]>("--payload") { Description = "Only these payload shapes, e.g. --payload 1x197x64 (repeatable; default: all four)." };
        var command = new Command("hop", "One expert hop without compute (identity group) to an `upmoe node` process on 127.0.0.1, for payloads " +
            "[1,1,64] [1,197,64] [1,197,768] [1,785,768]: CPU µs per hop (both processes), p50/p99, against a raw TCP echo of the same frames. " +
            "Ends with 'hop CPU per request: X µs (raw TCP echo of the same bytes: Y µs, ratio R)'.") { seconds, sets, cache, payloads };
        command.SetAction(async (parse, _) =>
        {
            var cacheDir = parse.GetValue(cache)
                ?? UniPerceiverMoe.Actors.Settings.EngineSettings.FromConfig(UniPerceiverMoe.Actors.Settings.UpmoeConfig.Reference).ResolvedCacheDir;
            var checkpoint = ClusterBench.RandomCheckpoint("tiny", cacheDir, Console.Out);
            await HopBenchmark.RunAsync(new HopBenchmark.Options(checkpoint, ClusterBench.NodeCommand(), ClusterBench.FindHoconDirectory(),
                TimeSpan.FromSeconds(parse.GetValue(seconds)), parse.GetValue(sets) ?? [],
                Payloads: parse.GetValue(payloads) is { Length: > 0 } chosen ? chosen.Select(ParseShape).ToArray() : null), Console.Out);
            return 0;
        });
        return command;
    }

    /// <summary>The other end of one of <c>bench hop</c>'s echo baselines (started by it; not for direct use).</summary>
    private static Command EchoServerCommand(string name, string what, Action<TextWriter> serve)
    {
        var command = new Command(name, $"Internal: {what} process of `upmoe bench hop`.") { Hidden = true };
        command.SetAction(_ =>
        {
            serve(Console.Out);
            return 0;
        });
        return command;
    }

    private static long[] ParseShape(string text)
    {
        var dims = text.Split('x');
        return dims.All(d => long.TryParse(d, out long n) && n > 0) && dims.Length >= 2
            ? dims.Select(long.Parse).ToArray()
            : throw new ArgumentException($"--payload {text}: expected dimensions joined by 'x', e.g. 1x197x64.");
    }
}
