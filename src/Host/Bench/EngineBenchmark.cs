using UniPerceiverMoe.Host.Inputs;
using Akka.Actor;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Model;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Tasks;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Host.Bench;

/// <summary>
/// Embedded engine (experts behind actors) vs a monolithic in-process forward of the same random-weight model:
/// image features at batch 1 and 8 and a 4-frame video window, medians of interleaved runs, one process. On a GPU
/// (<see cref="Options.Device"/>) the model, the inputs and every expert group are on that device, and each timed run
/// ends with a device synchronisation so that queued kernels are counted.
/// </summary>
public static class EngineBenchmark
{
    public sealed record Options(string Size = "tiny", int Threads = 2, int Rounds = 10, int Warmup = 2, string Placement = "single", string Device = "cpu");

    public static async Task<double> RunAsync(Options options, TextWriter output)
    {
        set_num_threads(options.Threads);
        var config = UniPerceiverConfig.Named(options.Size);
        output.WriteLine($"engine benchmark: {options.Size} ({config.Layers} layers, hidden {config.Hidden}, {config.Experts} experts), " +
                         $"random weights, fp32, {options.Device}, torch threads {options.Threads}, placement {options.Placement}, median of {options.Rounds} interleaved runs");
        var device = new Device(options.Device);
        bool gpu = device.type == TorchSharp.DeviceType.CUDA;
        using var model = ModelLoader.Random(config, seed: 0, device: gpu ? device : null);
        var routes = new RouteTable(model);
        using var local = new LocalMoeExecutor(model, routes);
        var monolithic = new UniPerceiverRunner(model, local);
        var placement = PlacementSettings.FromConfig(UpmoeConfig.Parse($"upmoe.placement.strategy = {UpmoeConfig.Quote(options.Placement)}"));
        await using var engine = UniPerceiverEngine.Start(UpmoeConfig.Parse($"upmoe.engine.device = {UpmoeConfig.Quote(options.Device)}"), new EngineStartOptions
        {
            Model = model,
            Plan = PlacementPlanner.Plan(placement, config, routes),
        });

        double totalMono = 0, totalEngine = 0;
        output.WriteLine("| workload | monolithic s/item | embedded s/item | throughput ratio |");
        output.WriteLine("|---|---|---|---|");
        foreach (var (name, batch, frames) in new[] { ("image, batch 1", 1, 1), ("image, batch 8", 8, 1), ("video 4 frames, batch 1", 1, 4) })
        {
            manual_seed(1);
            using var host = randn([batch, frames, 3, config.ImageSize, config.ImageSize]);
            using var pixels = host.to(device);
            var (mono, eng) = BenchTiming.MedianInterleaved(
                () => { using var f = UniPerceiverTasks.VisualFeatures(monolithic, pixels, MoeAttribute.VisualInput); Synchronize(); },
                () => { using var f = engine.RunAsync(r => UniPerceiverTasks.VisualFeatures(r, pixels, MoeAttribute.VisualInput), "bench", default).GetAwaiter().GetResult(); Synchronize(); },
                options.Warmup, options.Rounds);
            totalMono += mono;
            totalEngine += eng;
            output.WriteLine($"| {name} | {mono / batch:0.0000} | {eng / batch:0.0000} | {mono / eng:0.00} |");
        }

        long engineBytes = 0;
        foreach (var group in engine.Groups.Values)
            engineBytes += (await group.Ask<ExpertGroupProtocol.GroupCounters>(ExpertGroupProtocol.GetStats.Instance, TimeSpan.FromSeconds(10))).MergedBytes;
        output.WriteLine($"merged-weight cache: monolithic {local.Cache.Count} routes, {local.Cache.Bytes / 1e6:0.0} MB; " +
                         $"engine {engine.Plan.Groups.Count} group(s), {engineBytes / 1e6:0.0} MB");
        double ratio = totalMono / totalEngine;
        void Synchronize()
        {
            if (gpu) cuda.synchronize(device);
        }
        output.WriteLine($"embedded/monolithic throughput ratio: {ratio:0.00}");
        return ratio;
    }
}
