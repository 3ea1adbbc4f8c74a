using UniPerceiverMoe.Bench.Processes;
using System.Diagnostics;
using Akka.Actor;
using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Actors.Cluster.DataPlane;
using UniPerceiverMoe.Actors.Diagnostics;
using UniPerceiverMoe.Actors.Dispatch;
using UniPerceiverMoe.Actors.Serialization;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Model;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Host.Bench;

/// <summary>
/// <c>upmoe bench hop</c>: what one expert hop costs apart from its math. A frontend (this process) sends identity
/// hops (<see cref="ExpertShardProtocol.ProbeHop"/>) to the one expert group of an <c>upmoe node</c> process on
/// 127.0.0.1, one at a time, for each payload shape; then it times a raw socket echo of the same frames between this
/// process and an echo process (<see cref="RawEcho"/>). CPU is utime + stime of both processes over all hops, less
/// the JIT's background tiering threads (reported apart: they finish, but may still be at work on a loaded machine),
/// from /proc; latency is per hop. Ends with
/// <c>hop CPU per request: X µs (raw TCP echo of the same bytes: Y µs, ratio R)</c> for the [1, 197, 64] payload.
/// </summary>
public static class HopBenchmark
{
    public sealed record Options(string Checkpoint, IReadOnlyList<string> NodeCommand, string HoconDirectory, TimeSpan PerPayload,
        IReadOnlyList<string> Settings, bool EchoOnly = false, IReadOnlyList<long[]>? Payloads = null)
    {
        public IReadOnlyList<long[]> Shapes => Payloads ?? HopBenchmark.Shapes;
    }

    /// <summary>The payloads of the issue: one token, an image's patches at tiny and base width, a 4-frame video at base width.</summary>
    public static readonly long[][] Shapes = [[1, 1, 64], [1, 197, 64], [1, 197, 768], [1, 785, 768]];

    private static readonly long[] Headline = [1, 197, 64];

    /// <param name="JitMicros">CPU of the JIT's background threads during the measurement (excluded from <paramref name="CpuMicros"/>).</param>
    public sealed record Figures(double CpuMicros, double P50Micros, double P99Micros, int Hops, double JitMicros);

    public static async Task RunAsync(Options options, TextWriter output)
    {
        string[] common =
        [
            $"upmoe.engine.checkpoint = {UpmoeConfig.Quote(options.Checkpoint)}",
            "upmoe.engine.torch-threads = 1",
            "upmoe.engine.sequence-executors = 1",
            "upmoe.placement.strategy = single",
            "upmoe.placement.replicas = 1",
            .. options.Settings,
        ];
        output.WriteLine($"hop benchmark: identity hops to an `upmoe node` process on 127.0.0.1, one in flight, {options.PerPayload.TotalSeconds:0.#} s per payload; " +
            $"then a raw TCP echo and a gRPC echo of the same frames between two processes");
        var hops = new Dictionary<string, Figures>();
        if (!options.EchoOnly) await HopsAsync(options, common, hops, output).ConfigureAwait(false);
        var echo = EchoBaseline(options, output);
        var grpc = GrpcBaseline(options, output);
        if (grpc.TryGetValue(Name(Headline), out var g) && echo.TryGetValue(Name(Headline), out var e))
            output.WriteLine($"gRPC echo of the same bytes: {g.CpuMicros:0} µs (raw TCP echo {e.CpuMicros:0} µs, ratio {g.CpuMicros / e.CpuMicros:0.0})" +
                (hops.TryGetValue(Name(Headline), out var h) ? $"; our hop {h.CpuMicros:0} µs" : ""));
        if (options.EchoOnly || !hops.ContainsKey(Name(Headline))) return;
        var (hop, raw) = (hops[Name(Headline)], echo[Name(Headline)]);
        output.WriteLine($"hop CPU per request: {hop.CpuMicros:0} µs (raw TCP echo of the same bytes: {raw.CpuMicros:0} µs, ratio {hop.CpuMicros / raw.CpuMicros:0.0})");
    }

    private static async Task HopsAsync(Options options, string[] common, Dictionary<string, Figures> hops, TextWriter output)
    {
        string hocon(string name) => Path.Combine(options.HoconDirectory, name);
        var frontend = ClusterFrontend.Start(NodeConfig.Load([hocon("frontend.conf"), hocon("loopback.conf")],
            [.. common, "akka.remote.dot-netty.tcp.port = 0", "akka.cluster.seed-nodes = []"]));
        ExpertProcess? node = null;
        try
        {
            frontend.Cluster.JoinSeedNodes([frontend.Address]);
            node = ExpertProcess.Start(options.NodeCommand,
            [
                "--config", hocon("experts.conf"), "--config", hocon("loopback.conf"),
                .. common.SelectMany(s => new[] { "--set", s }), "--set", $"akka.cluster.seed-nodes = [\"{frontend.Address}\"]",
            ]);
            await node.WhenUp(TimeSpan.FromSeconds(120)).ConfigureAwait(false);
            string group = frontend.Engine.Plan.Groups[0].Id;
            using var transport = new ClusterGroupTransport(frontend.Region, frontend.Settings, frontend.Engine.Model.Config, new ClusterCounters());
            await WaitForGroupAsync(transport, group).ConfigureAwait(false);
            foreach (var shape in options.Shapes)
            {
                using var input = Payload(shape);
                // Waited for as the engine's sequence executors wait for their hops (blocking, no spin).
                var figures = Measure(() => BlockingWait.Result(transport.ProbeAsync(group, input, TimeSpan.FromSeconds(10))).Dispose(),
                    node.Id, options.PerPayload);
                hops[Name(shape)] = figures;
                Print(output, "hop ", shape, figures);
            }
        }
        finally
        {
            if (node is not null) await node.DisposeAsync().ConfigureAwait(false);
            await frontend.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static Dictionary<string, Figures> EchoBaseline(Options options, TextWriter output) =>
        Baseline(options, output, "echo", "echo-server", RawEcho.UpLinePrefix, port => new RawEcho.Client(port));

    /// <summary>The gRPC candidate (<see cref="GrpcEcho"/>): the same frames over one duplex call, counted the same way.</summary>
    private static Dictionary<string, Figures> GrpcBaseline(Options options, TextWriter output) =>
        Baseline(options, output, "grpc", "grpc-echo-server", GrpcEcho.UpLinePrefix, port => new GrpcEcho.Client(port));

    /// <summary>Echoes of the hop's frames (the data plane's framing around the payload's bytes) through the echo process
    /// started by <paramref name="subcommand"/>, one at a time, measured as the hops are.</summary>
    private static Dictionary<string, Figures> Baseline(Options options, TextWriter output, string label, string subcommand, string upLinePrefix,
        Func<int, IEchoClient> connect)
    {
        var figuresByShape = new Dictionary<string, Figures>();
        using var server = StartEchoServer(options.NodeCommand, subcommand, upLinePrefix, out int port);
        using (var client = connect(port))
        {
            foreach (var shape in options.Shapes)
            {
                long bytes = shape.Aggregate(1L, (a, b) => a * b) * sizeof(float);
                var frame = DataPlaneFrames.Header(1, "upmoe.probe", (int)bytes).Concat(new byte[bytes]).ToArray();
                var figures = Measure(() =>
                {
                    if (client.Echo(frame) != frame.Length) throw new InvalidDataException($"{label}: reply of the wrong length.");
                }, server.Id, options.PerPayload);
                figuresByShape[Name(shape)] = figures;
                Print(output, label, shape, figures);
            }
        }
        server.StandardInput.Close();
        server.WaitForExit(5000);
        return figuresByShape;
    }

    /// <summary>Runs <paramref name="hop"/> for a warm-up, then for <paramref name="duration"/>; CPU of this process and
    /// <paramref name="peer"/> together, per hop.</summary>
    private static Figures Measure(Action hop, int peer, TimeSpan duration)
    {
        // Until both processes' JIT has tiered up the hop's code (tier-1 with PGO takes thousands of calls and a
        // background compile, slow on a loaded machine): a hop measured earlier would count the compiler's CPU.
        var warmUp = Stopwatch.StartNew();
        var compiled = ProcessCpu.JitThreads(0, peer);
        for (int n = 0; ; n++)
        {
            hop();
            if (n % 500 != 499 || warmUp.Elapsed < MinWarmUp) continue;
            var now = ProcessCpu.JitThreads(0, peer);
            if ((ProcessCpu.JitSeconds(compiled, now) == 0 && n >= 2000) || warmUp.Elapsed > MaxWarmUp) break;
            compiled = now;
        }
        var latencies = new List<double>();
        double cpuBefore = ProcessCpu.Seconds() + ProcessCpu.Seconds(peer);
        var jitBefore = ProcessCpu.JitThreads(0, peer);
        var threadsBefore = Breakdown ? ProcessCpu.Threads().Concat(ProcessCpu.Threads(peer)).ToDictionary() : null;
        long allocatedBefore = GC.GetTotalAllocatedBytes(), gcBefore = GC.CollectionCount(0);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < duration)
        {
            long start = Stopwatch.GetTimestamp();
            hop();
            latencies.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
        }
        // The JIT's background tiering is not the hop's cost: it ends, but on a loaded machine it may still be at work.
        double jit = ProcessCpu.JitSeconds(jitBefore, ProcessCpu.JitThreads(0, peer));
        double cpu = ProcessCpu.Seconds() + ProcessCpu.Seconds(peer) - cpuBefore - jit;
        if (threadsBefore is not null)
            foreach (var (thread, seconds) in ProcessCpu.Threads().Concat(ProcessCpu.Threads(peer))
                .Select(t => (t.Key, t.Value - threadsBefore.GetValueOrDefault(t.Key))).Where(t => t.Item2 > 0).OrderByDescending(t => t.Item2).Take(8))
                Console.Error.WriteLine($"  thread {thread,-40} {seconds * 1e6 / latencies.Count,7:0} µs/hop");
        if (threadsBefore is not null)
            Console.Error.WriteLine($"  this process: {(GC.GetTotalAllocatedBytes() - allocatedBefore) / 1024.0 / latencies.Count:0.0} KiB allocated per hop, " +
                $"{(GC.CollectionCount(0) - gcBefore) * 1000.0 / latencies.Count:0.0} gen-0 collections per 1000 hops");
        latencies.Sort();
        return new Figures(cpu * 1e6 / latencies.Count, Percentile(latencies, 0.50), Percentile(latencies, 0.99), latencies.Count, jit * 1e6 / latencies.Count);
    }

    /// <summary>Print where each measurement's CPU went, per thread of both processes, on stderr ($UPMOE_HOP_THREADS=1).</summary>
    private static readonly bool Breakdown = Environment.GetEnvironmentVariable("UPMOE_HOP_THREADS") == "1";

    private static readonly TimeSpan MinWarmUp = TimeSpan.FromSeconds(1), MaxWarmUp = TimeSpan.FromSeconds(30);

    private static double Percentile(List<double> sorted, double q) => sorted[Math.Min(sorted.Count - 1, (int)(q * sorted.Count))];

    private static void Print(TextWriter output, string what, long[] shape, Figures f) =>
        output.WriteLine($"{what} {Name(shape),-14} {f.Hops,7} hops  CPU {f.CpuMicros,7:0} µs/hop (both processes)  p50 {f.P50Micros,7:0} µs  p99 {f.P99Micros,7:0} µs  (JIT {f.JitMicros:0} µs/hop excluded)");

    private static string Name(long[] shape) => $"[{string.Join(", ", shape)}]";

    /// <summary>[rows, in] of the shape's values (the wire carries rows; values do not matter to the cost).</summary>
    private static Tensor Payload(long[] shape)
    {
        using var generator = new Generator(16);
        using var values = randn(shape, generator: generator);
        return values.reshape(-1, shape[^1]);
    }

    private static async Task WaitForGroupAsync(ClusterGroupTransport transport, string group)
    {
        using var one = ones(1, 4);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try
            {
                (await transport.ProbeAsync(group, one, TimeSpan.FromSeconds(3)).ConfigureAwait(false)).Dispose();
                return;
            }
            catch (Exception e) when (e is TimeoutException or AskTimeoutException && DateTime.UtcNow < deadline)
            {
            }
        }
    }

    private static Process StartEchoServer(IReadOnlyList<string> command, string subcommand, string upLinePrefix, out int port)
    {
        var info = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardInput = true };
        foreach (var a in command.Skip(1).SkipLast(1)) info.ArgumentList.Add(a);   // the program, without "node"
        info.ArgumentList.Add("bench");
        info.ArgumentList.Add(subcommand);
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start the {subcommand}.");
        string? line;
        while ((line = process.StandardOutput.ReadLine()) is not null && !line.StartsWith(upLinePrefix, StringComparison.Ordinal)) { }
        if (line is null) throw new InvalidOperationException($"the {subcommand} ended before it listened.");
        port = int.Parse(line[upLinePrefix.Length..], System.Globalization.CultureInfo.InvariantCulture);
        return process;
    }
}
