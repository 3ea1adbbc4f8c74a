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
    public static async Task RunAsync(string? checkpoint, int threads, TimeSpan perLevel, int maxStreams, TextWriter output, CancellationToken cancellation)
    {
        set_num_threads(threads);
        var config = UpmoeConfig.Parse(checkpoint is null ? "" : $"upmoe.engine.checkpoint = {UpmoeConfig.Quote(checkpoint)}");
        using var random = checkpoint is null ? ModelLoader.Random(UniPerceiverConfig.Tiny, seed: 0) : null;
        output.WriteLine($"model: {(checkpoint ?? "tiny, random weights")}; torch threads {threads}");
        await using var engine = UniPerceiverEngine.Start(config, new EngineStartOptions { Model = random });
        var options = new StreamBenchmarkOptions { Settings = StreamSettings.FromConfig(config), Duration = perLevel, MaxStreams = maxStreams };
        await StreamBenchmark.RunAsync(engine, options, output, cancellation);
    }
}
