using UniPerceiverMoe.Streams.Settings;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Model;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Bench.Streams;
using UniPerceiverMoe.Streams;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Host.Bench;

/// <summary><c>upmoe bench streams</c>: <see cref="StreamBenchmark"/> on the embedded engine with the reference.conf stream settings.</summary>
public static class StreamsBenchmark
{
    public static async Task RunAsync(string? checkpoint, int threads, TimeSpan perLevel, int maxStreams, TextWriter output, CancellationToken cancellation,
        IReadOnlyList<string>? sets = null)
    {
        set_num_threads(threads);
        var config = Config(checkpoint, sets ?? [], output);
        using var random = checkpoint is null ? ModelLoader.Random(UniPerceiverConfig.Tiny, seed: 0) : null;
        output.WriteLine($"model: {(checkpoint ?? "tiny, random weights")}; torch threads {threads}");
        await using var engine = UniPerceiverEngine.Start(config, new EngineStartOptions { Model = random });
        var options = new StreamBenchmarkOptions { Settings = StreamSettings.FromConfig(config), Duration = perLevel, MaxStreams = maxStreams };
        await StreamBenchmark.RunAsync(engine, options, output, cancellation);
    }

    /// <summary>The reference settings with the checkpoint and the --set lines (each said on the output).</summary>
    private static Akka.Configuration.Config Config(string? checkpoint, IReadOnlyList<string> sets, TextWriter output)
    {
        foreach (var line in sets) output.WriteLine($"set: {line}");
        return UpmoeConfig.Parse(string.Join("\n", sets.Prepend(checkpoint is null ? "" : $"upmoe.engine.checkpoint = {UpmoeConfig.Quote(checkpoint)}")));
    }

    /// <summary><c>upmoe bench streams --mix</c>: <see cref="MixedStreamBenchmark"/> with <paramref name="streams"/> streams.</summary>
    public static async Task RunMixedAsync(string? checkpoint, int threads, TimeSpan duration, int streams, int rounds, IReadOnlyList<string> mix,
        IReadOnlyList<string> sets, TextWriter output, CancellationToken cancellation)
    {
        set_num_threads(threads);
        var config = Config(checkpoint, sets, output);
        using var random = checkpoint is null ? ModelLoader.Random(UniPerceiverConfig.Tiny, seed: 0) : null;
        output.WriteLine($"model: {(checkpoint ?? "tiny, random weights")}; torch threads {threads}");
        await using var engine = UniPerceiverEngine.Start(config, new EngineStartOptions { Model = random });
        var options = new MixedStreamOptions { Settings = StreamSettings.FromConfig(config), Mix = mix, Streams = streams, Rounds = rounds, Duration = duration };
        for (int i = 0; i < Math.Min(streams, mix.Count); i++) _ = MixedStreamBenchmark.TasksOf(i, options);   // a bad task name fails here
        if (mix.Contains("caption")) await engine.VocabularyBankAsync();
        await MixedStreamBenchmark.RunAsync(engine.System, new UniPerceiverMoe.Streams.Batching.EngineWindows(engine), options, output, cancellation);
    }
}
