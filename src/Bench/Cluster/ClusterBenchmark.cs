using Akka.Actor;
using Akka.Cluster.Sharding;
using UniPerceiverMoe.Actors.Diagnostics;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Serialization;
using UniPerceiverMoe.Actors.Settings;
using static TorchSharp.torch;

using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Bench.Processes;

namespace UniPerceiverMoe.Bench.Cluster;

/// <summary>What <see cref="ClusterBenchmark.RunAsync"/> measures and with what.</summary>
public sealed record ClusterBenchmarkOptions
{
    /// <summary>Checkpoint served by every node (and the embedded engine).</summary>
    public required string Checkpoint { get; init; }

    /// <summary>Program and leading arguments that run an expert node taking --config/--set (e.g. [upmoe, "node"]).</summary>
    public required IReadOnlyList<string> NodeCommand { get; init; }

    /// <summary>Directory of the role files (embedded.conf, frontend.conf, experts.conf, loopback.conf).</summary>
    public required string HoconDirectory { get; init; }

    /// <summary>Extra HOCON for every node (e.g. upmoe.engine.vocab, upmoe.engine.model-config).</summary>
    public IReadOnlyList<string> Settings { get; init; } = [];

    public string Placement { get; init; } = "per-layer";
    public int Requests { get; init; } = 32;
    public int Concurrency { get; init; } = 2;
    /// <summary>Replicas of every expert group (upmoe.placement.replicas).</summary>
    public int Replicas { get; init; } = 1;
    /// <summary>Torch intra-op threads of every process (the frontend and each expert node).</summary>
    public int TorchThreads { get; init; } = 1;
}

/// <summary>
/// One frontend (this process) + two expert processes on 127.0.0.1 (loopback timings), then the embedded engine:
/// throughput of image embeddings, payload bytes on the wire, the frontend's resident memory against the dense part
/// it holds, and recovery after kill -9 of an expert process (time until the first request issued after the kill
/// completes). Ends with <c>cluster/embedded throughput ratio: X.XX, recovery: X.X s</c>, the ratio of the medians of
/// interleaved cluster and embedded segments (<see cref="InterleavedComparison"/>); the two separate phases' ratio is
/// printed above it.
/// </summary>
public static class ClusterBenchmark
{
    public static async Task RunAsync(ClusterBenchmarkOptions options, TextWriter output)
    {
        string hocon(string name) => Path.Combine(options.HoconDirectory, name);
        string[] common =
        [
            $"upmoe.engine.checkpoint = {UpmoeConfig.Quote(options.Checkpoint)}",
            $"upmoe.engine.torch-threads = {options.TorchThreads}",
            $"upmoe.engine.sequence-executors = {options.Concurrency}",
            $"upmoe.placement.strategy = {options.Placement}",
            $"upmoe.placement.replicas = {options.Replicas}",
            .. options.Settings,
        ];
        output.WriteLine($"cluster benchmark: {options.Requests} image embeddings, {options.Concurrency} concurrent, placement {options.Placement} × {options.Replicas} replica(s), " +
            $"{options.TorchThreads} torch thread(s) per process, 2 expert processes on 127.0.0.1");

        // The cluster runs first: the frontend's resident memory is measured in a process that has never held a whole
        // model (memory freed by an embedded engine is not always returned to the OS, and would be counted).
        using (ones(1)) { }   // libtorch loaded and initialised: part of the baseline, not of the model
        // What this process freed before (writing the random checkpoint: ~1.7 GB for MoE-B, kept in the C heap under
        // upmoe.engine.native-heap-retain-freed) goes back first, so the baseline is the runtime and libtorch.
        // Aggressive: a plain collection keeps the emptied regions committed (after writing that checkpoint the .NET heap
        // stayed at 1.7 GB committed and resident, and the baseline with it).
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        UniPerceiverMoe.Actors.Memory.NativeHeap.Trim();
        var baseline = MemoryComposition.Now();
        var (clusterRate, recovery, interleaved) = await ClusterPhaseAsync(options, common, hocon, baseline, output).ConfigureAwait(false);

        await using (var embedded = UniPerceiverEngine.Start(UpmoeConfig.Load([hocon("embedded.conf")], common)))
        {
            using var image = Image(embedded);
            var run = await ThroughputAsync(embedded, image, options, [], () => LocalGroupComputeCpuAsync(embedded), output).ConfigureAwait(false);
            output.WriteLine($"embedded: {run.Rate:0.00} requests/s; CPU {run.LocalCpuMs:0.00} ms per request (after {run.WarmUp} warm-up requests)");
            output.WriteLine($"embedded CPU per request by part: sequence executors {run.SequenceCpuMs:0.00} (expert dispatch {run.DispatchCpuMs:0.00}, " +
                $"of which expert-group compute {run.GroupComputeCpuMs:0.00}; the model's own work {run.SequenceCpuMs - run.DispatchCpuMs:0.00}) + " +
                $"other threads {run.LocalCpuMs - run.SequenceCpuMs:0.00}");
            output.WriteLine($"separate phases (minutes apart): cluster {clusterRate:0.00} / embedded {run.Rate:0.00} requests/s = {clusterRate / run.Rate:0.00}");
            output.WriteLine($"cluster/embedded throughput ratio: {interleaved.Ratio:0.00}, recovery: {recovery.TotalSeconds:0.0} s");
        }
    }

    /// <summary>One frontend (this process) and two expert processes: throughput, wire traffic, the frontend's memory
    /// against <paramref name="baseline"/> (this process before the frontend started), then recovery after kill -9.</summary>
    private static async Task<(double Rate, TimeSpan Recovery, InterleavedComparison.Result Interleaved)> ClusterPhaseAsync(ClusterBenchmarkOptions options, string[] common,
        Func<string, string> hocon, MemoryComposition baseline, TextWriter output)
    {
        var frontend = ClusterFrontend.Start(UpmoeConfig.Load([hocon("frontend.conf"), hocon("loopback.conf")],
            [.. common, "akka.remote.dot-netty.tcp.port = 0", "akka.cluster.seed-nodes = []"]));
        var nodes = new List<ExpertProcess>();
        try
        {
            frontend.Cluster.JoinSeedNodes([frontend.Address]);
            string[] nodeArguments =
            [
                "--config", hocon("experts.conf"), "--config", hocon("loopback.conf"),
                .. common.SelectMany(s => new[] { "--set", s }), "--set", $"akka.cluster.seed-nodes = [\"{frontend.Address}\"]",
            ];
            for (int i = 0; i < 2; i++)
            {
                nodes.Add(ExpertProcess.Start(options.NodeCommand, nodeArguments));
                await nodes[i].WhenUp(TimeSpan.FromSeconds(120)).ConfigureAwait(false);
            }
            await AwaitRegionsAsync(frontend, 2).ConfigureAwait(false);
            using var image = Image(frontend.Engine);
            var before = frontend.Counters.Snapshot();
            var engineBefore = frontend.Engine.Counters.Snapshot();
            Throughput cluster;
            long peak;
            using (var sampler = new ResidentPeak())
            {
                cluster = await ThroughputAsync(frontend.Engine, image, options, nodes.Select(n => n.Id).ToArray(), () => RemoteGroupComputeCpuAsync(frontend),
                    output).ConfigureAwait(false);
                peak = sampler.Peak;
            }
            var after = frontend.Counters.Snapshot();
            var engineAfter = frontend.Engine.Counters.Snapshot();
            long hedges = engineAfter["expert_hedges"] - engineBefore["expert_hedges"], failovers = engineAfter["expert_failovers"] - engineBefore["expert_failovers"];
            long bytes = after["wire_bytes_sent"] + after["wire_bytes_received"] - before["wire_bytes_sent"] - before["wire_bytes_received"];
            long rows = after["wire_rows_sent"] - before["wire_rows_sent"];
            long messages = after["wire_messages_sent"] - before["wire_messages_sent"];
            long direct = after["data_plane_messages"] - before["data_plane_messages"];
            long batches = after["hop_batches"] - before["hop_batches"], batched = after["hop_batched_requests"] - before["hop_batched_requests"];
            double sent = options.Requests + cluster.WarmUp;
            WriteMemory(frontend.Engine, baseline, peak, output);
            output.WriteLine($"cluster: {cluster.Rate:0.00} requests/s; wire payload {bytes / sent / 1e6:0.00} MB per request, " +
                $"{messages / sent:0.#} expert hops per request, {bytes / (double)Math.Max(1, rows):0} bytes per token per hop (input + output); " +
                $"{direct} of {messages} messages over the data plane; {batched} requests went in {batches} batched hops; " +
                $"CPU {cluster.LocalCpuMs + cluster.PeerCpuMs:0.00} ms per request (frontend {cluster.LocalCpuMs:0.00}, expert nodes {cluster.PeerCpuMs:0.00} = " +
                $"{string.Join(" + ", cluster.PerPeerCpuMs.Select(ms => ms.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)))}; after {cluster.WarmUp} warm-up requests); " +
                $"{hedges} hedged tries, {failovers} failovers");
            output.WriteLine($"cluster CPU per request by part: frontend {cluster.LocalCpuMs:0.00} = sequence executors {cluster.SequenceCpuMs:0.00} " +
                $"(expert dispatch {cluster.DispatchCpuMs:0.00}, the model's own work {cluster.SequenceCpuMs - cluster.DispatchCpuMs:0.00}) + other threads " +
                $"{cluster.LocalCpuMs - cluster.SequenceCpuMs:0.00}; expert nodes {cluster.PeerCpuMs:0.00} = expert-group compute {cluster.GroupComputeCpuMs:0.00} + " +
                $"the rest {cluster.PeerCpuMs - cluster.GroupComputeCpuMs:0.00} (data plane, serialization, runtime)");

            var interleaved = await InterleavedAsync(frontend.Engine, image, options, common, hocon, output).ConfigureAwait(false);
            var victim = await BusiestNodeAsync(frontend, nodes).ConfigureAwait(false);
            var recovery = await RecoveryAsync(frontend, image, victim, options.Concurrency, output).ConfigureAwait(false);
            return (cluster.Rate, recovery, interleaved);
        }
        finally
        {
            foreach (var node in nodes) await node.DisposeAsync().ConfigureAwait(false);
            await frontend.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The throughput ratio the benchmark ends with: an embedded engine started in this process beside the
    /// frontend (after the frontend's memory was measured), warmed up, then <see cref="InterleavedComparison"/> against
    /// the running cluster; the embedded engine is gone again before the kill -9 test.</summary>
    private static async Task<InterleavedComparison.Result> InterleavedAsync(UniPerceiverEngine cluster, Tensor image, ClusterBenchmarkOptions options,
        string[] common, Func<string, string> hocon, TextWriter output)
    {
        await using var embedded = UniPerceiverEngine.Start(UpmoeConfig.Load([hocon("embedded.conf")], common));
        await WarmUpAsync(embedded, image, options, []).ConfigureAwait(false);
        int segment = InterleavedComparison.SegmentRequests(options.Requests, options.Concurrency);
        var result = await InterleavedComparison.RunAsync(cluster, embedded, image, options.Concurrency, segment).ConfigureAwait(false);
        string rates(IReadOnlyList<double> r) => string.Join(", ", r.Select(x => x.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)));
        output.WriteLine($"interleaved ({InterleavedComparison.Segments} segments of {segment} requests per mode, cluster and embedded in turn): " +
            $"cluster {rates(result.Cluster)} (median {result.ClusterMedian:0.00}); embedded {rates(result.Embedded)} (median {result.EmbeddedMedian:0.00}) requests/s");
        return result;
    }

    /// <summary>Requests per second over <see cref="ClusterBenchmarkOptions.Requests"/> requests, after a warm-up of two
    /// requests per request in flight at the same concurrency (every replica's merged routes, every executor's first
    /// pass and the data-plane connections are made before the clock starts, in both modes), and the CPU milliseconds
    /// per request of this process and of <paramref name="peers"/> (the expert processes) over the same requests.</summary>
    private static async Task<Throughput> ThroughputAsync(UniPerceiverEngine engine, Tensor image,
        ClusterBenchmarkOptions options, IReadOnlyList<int> peers, Func<Task<double>> groupComputeCpuSeconds, TextWriter output)
    {
        int warmUp = await WarmUpAsync(engine, image, options, peers).ConfigureAwait(false);
        double groupsBefore = await groupComputeCpuSeconds().ConfigureAwait(false);
        var countersBefore = engine.Counters.Snapshot();
        double localBefore = ProcessCpu.Seconds();
        var peersBefore = peers.Select(pid => ProcessCpu.Seconds(pid)).ToArray();
        var load = new BenchmarkLoad(engine, image, options.Concurrency, options.Requests);
        await using (ThroughputWindows.StartIfAsked(load, peers, output))
            await load.Finished.ConfigureAwait(false);
        double local = ProcessCpu.Seconds() - localBefore;
        var perPeer = peers.Select((pid, i) => 1e3 * (ProcessCpu.Seconds(pid) - peersBefore[i]) / load.Completed).ToArray();
        var countersAfter = engine.Counters.Snapshot();
        double groups = await groupComputeCpuSeconds().ConfigureAwait(false) - groupsBefore;
        if (load.Failed > 0) throw new InvalidOperationException($"{load.Failed} of {options.Requests} benchmark requests failed; last error: {load.LastError}");
        double PerRequestMs(string counter) => 1e-3 * (countersAfter[counter] - countersBefore[counter]) / load.Completed;
        return new Throughput(load.Completed / load.Timeline.Max(t => t.Completed).TotalSeconds, 1e3 * local / load.Completed, perPeer, warmUp)
        {
            SequenceCpuMs = PerRequestMs("sequence_cpu_microseconds"),
            DispatchCpuMs = PerRequestMs("expert_dispatch_cpu_microseconds"),
            GroupComputeCpuMs = 1e3 * groups / load.Completed,
        };
    }

    /// <summary>CPU seconds every expert group of the cluster has spent computing so far (asked through the region).</summary>
    private static async Task<double> RemoteGroupComputeCpuAsync(ClusterFrontend frontend) =>
        (await GroupStatsAsync(frontend).ConfigureAwait(false)).Sum(s => s.ComputeCpuSeconds);

    /// <summary>The counters and host node of every group of the plan that answered (asked through the region).</summary>
    private static async Task<IEnumerable<ExpertShardProtocol.GroupStats>> GroupStatsAsync(ClusterFrontend frontend)
    {
        var replies = await Task.WhenAll(frontend.Engine.Plan.Groups.Select(g =>
            frontend.Region.Ask<IUpmoeWireMessage>(new ExpertShardProtocol.GetGroupStats(g.Id), TimeSpan.FromSeconds(30)))).ConfigureAwait(false);
        return replies.OfType<ExpertShardProtocol.GroupStats>();
    }

    /// <summary>CPU seconds the embedded engine's expert groups have spent computing so far. Asked from a pool thread:
    /// with the caller-runs dispatcher an idle group answers on the asking thread.</summary>
    private static async Task<double> LocalGroupComputeCpuAsync(UniPerceiverEngine engine)
    {
        var stats = await Task.WhenAll(engine.Groups.Values.Select(group => Task.Run(() =>
            group.Ask<ExpertGroupProtocol.GroupCounters>(ExpertGroupProtocol.GetStats.Instance, TimeSpan.FromSeconds(30))))).ConfigureAwait(false);
        return stats.Sum(s => s.ComputeCpu.TotalSeconds);
    }

    /// <summary>The frontend's resident memory against <paramref name="baseline"/>, once the engine, idle after the
    /// load, has given its free native heap back (upmoe.engine.native-heap-trim-after-idle and -interval; waited for up to
    /// 3 s past the idle delay), with
    /// what the growth is made of, and the highest figure sampled during the load.</summary>
    private static void WriteMemory(UniPerceiverEngine engine, MemoryComposition baseline, long peak, TextWriter output)
    {
        var trims = engine.Counters.NativeHeapTrims;
        long trimsBefore = trims.Value;
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (trims.Value == trimsBefore && engine.Settings.NativeHeapTrimInterval > TimeSpan.Zero && waited.Elapsed < engine.Settings.NativeHeapTrimAfterIdle + TimeSpan.FromSeconds(3))
            Thread.Sleep(20);
        var dense = engine.Model.state_dict().Where(kv => kv.Value.device_type != TorchSharp.DeviceType.META)
            .Sum(kv => kv.Value.NumberOfElements * kv.Value.ElementSize);
        var now = MemoryComposition.Now();
        long resident = now.Resident, file = now.ResidentFile - baseline.ResidentFile;
        var heap = GC.GetGCMemoryInfo();
        double ratio(long bytes) => (bytes - baseline.Resident) / (double)Math.Max(1, dense);
        output.WriteLine($"frontend: resident memory {resident / 1e6:0} MB, {(resident - baseline.Resident) / 1e6:0} MB more than before it started " +
            $"({baseline.Resident / 1e6:0} MB: runtime and libtorch); model tensors held {dense / 1e6:0} MB (dense part only: experts are on the expert nodes); " +
            $"growth / dense part = {ratio(resident):0.00}; .NET heap {heap.HeapSizeBytes / 1e6:0} MB " +
            $"({heap.TotalCommittedBytes / 1e6:0} MB committed); file-backed (code) {file / 1e6:0} MB of the growth; " +
            $"measured idle, after {trims.Value} native heap trim(s); peak during the load {peak / 1e6:0} MB (growth / dense part = {ratio(peak):0.00})");
        output.WriteLine($"frontend memory {now.DescribeGrowth(baseline, dense)}");
    }

    private static int WarmUpRequests(ClusterBenchmarkOptions options) => 2 * options.Concurrency;

    /// <param name="Rate">Requests per second.</param>
    /// <param name="LocalCpuMs">This process's CPU per request.</param>
    /// <param name="PerPeerCpuMs">Each peer process's CPU per request (the expert nodes, in start order).</param>
    /// <param name="WarmUp">Requests sent before the clock started.</param>
    private sealed record Throughput(double Rate, double LocalCpuMs, IReadOnlyList<double> PerPeerCpuMs, int WarmUp)
    {
        /// <summary>This process's sequence executors' CPU per request (engine counter sequence_cpu_microseconds), and
        /// the part of it spent dispatching to expert groups (expert_dispatch_cpu_microseconds).</summary>
        public double SequenceCpuMs { get; init; }
        public double DispatchCpuMs { get; init; }
        /// <summary>CPU per request the expert groups spent computing (the nodes' groups, or this process's own).</summary>
        public double GroupComputeCpuMs { get; init; }

        /// <summary>All peer processes' CPU per request.</summary>
        public double PeerCpuMs => PerPeerCpuMs.Sum();
    }

    /// <summary>Rounds of warm-up requests until the JIT is quiet in every process (tiered compilation promotes the hot
    /// paths over the first thousands of calls: on tiny it took a quarter of the frontend's CPU in a 400-request run),
    /// at most <see cref="MaxWarmUpRounds"/>. Quiet means <see cref="QuietRounds"/> rounds in a row: tiering waits for
    /// call counts and a 100 ms delay, so one quiet round can fall between two bursts of compilation (it did: tiny runs
    /// that stopped after 100 requests measured 11–12 ms of CPU per request against 6.6–7.5 after 2,000).
    /// Returns the requests sent.</summary>
    private static async Task<int> WarmUpAsync(UniPerceiverEngine engine, Tensor image, ClusterBenchmarkOptions options, IReadOnlyList<int> peers)
    {
        int[] pids = [0, .. peers];
        int sent = 0, quiet = 0;
        for (int round = 0; round < MaxWarmUpRounds && quiet < QuietRounds; round++)
        {
            var jitBefore = ProcessCpu.JitThreads(pids);
            int requests = Math.Max(WarmUpRequests(options), WarmUpRoundRequests);
            await new BenchmarkLoad(engine, image, options.Concurrency, limit: requests).Finished.ConfigureAwait(false);
            sent += requests;
            quiet = ProcessCpu.JitSeconds(jitBefore, ProcessCpu.JitThreads(pids)) <= QuietJitSeconds ? quiet + 1 : 0;
        }
        return sent;
    }

    private const int WarmUpRoundRequests = 50, MaxWarmUpRounds = 40, QuietRounds = 3;

    /// <summary>JIT CPU in one warm-up round that counts as quiet: two clock ticks of /proc (USER_HZ = 100).</summary>
    private const double QuietJitSeconds = 0.02;

    private static async Task<TimeSpan> RecoveryAsync(ClusterFrontend frontend, Tensor image, ExpertProcess victim, int concurrency, TextWriter output)
    {
        var load = new BenchmarkLoad(frontend.Engine, image, concurrency);
        var address = await victim.WhenUp(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        try
        {
            await WaitAsync(() => load.Completed >= 4, TimeSpan.FromSeconds(60), "requests before the kill").ConfigureAwait(false);
            // Said first: the frontend's remoting then logs the lost association (warnings with Akka's stack trace), as it should.
            output.WriteLine($"kill -9 of expert process {victim.Id} under load (the recovery test): the warnings that follow are the frontend noticing it");
            victim.Kill();
            var killedAt = load.Now;            // the process is gone: later requests cannot be answered by it
            // Where the time goes: the failure detector, then the split-brain resolver's downing and removal.
            TimeSpan? unreachable = null, removed = null;
            await WaitAsync(() =>
            {
                var state = frontend.Cluster.State;
                unreachable ??= state.Unreachable.Any(m => m.Address == address) ? load.Now - killedAt : null;
                removed ??= state.Members.All(m => m.Address != address) ? load.Now - killedAt : null;
                return removed is not null && load.Timeline.Any(t => t.Issued > killedAt);
            }, TimeSpan.FromSeconds(120), "the killed node's removal and a request issued after the kill").ConfigureAwait(false);
            var recovery = load.Timeline.Where(t => t.Issued > killedAt).Min(t => t.Completed) - killedAt;
            await load.StopAsync().ConfigureAwait(false);
            // Requests already in flight at the kill: the longest one shows what a stream saw at worst.
            var straddling = load.Timeline.Where(t => t.Issued <= killedAt && t.Completed > killedAt).Select(t => t.Completed - killedAt).DefaultIfEmpty().Max();
            output.WriteLine($"kill -9 of pid {victim.Id}: unreachable after {unreachable?.TotalSeconds ?? double.NaN:0.0} s, removed after " +
                $"{removed!.Value.TotalSeconds:0.0} s; first request issued after the kill completed after {recovery.TotalSeconds:0.0} s; " +
                $"requests in flight at the kill done {straddling.TotalSeconds:0.0} s after it; {load.Completed} completed, {load.Failed} failed during the run");
            return recovery;
        }
        finally
        {
            await load.StopAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The expert process hosting the most groups now (a kill of a node that hosts none would measure nothing).</summary>
    private static async Task<ExpertProcess> BusiestNodeAsync(ClusterFrontend frontend, IReadOnlyList<ExpertProcess> nodes)
    {
        var counts = (await GroupStatsAsync(frontend).ConfigureAwait(false)).GroupBy(h => h.Node).ToDictionary(g => g.Key, g => g.Count());
        var addresses = await Task.WhenAll(nodes.Select(n => n.WhenUp(TimeSpan.FromSeconds(1)))).ConfigureAwait(false);
        return nodes.Zip(addresses).OrderByDescending(p => counts.GetValueOrDefault(p.Second.ToString())).First().First;
    }

    /// <summary>A fixed pseudo-random preprocessed image [3, S, S] (throughput does not depend on pixel values).</summary>
    private static Tensor Image(UniPerceiverEngine engine)
    {
        using var generator = new Generator(20220922);
        return randn([3, engine.Model.Config.ImageSize, engine.Model.Config.ImageSize], generator: generator);
    }

    private static async Task AwaitRegionsAsync(ClusterFrontend frontend, int regions) =>
        await WaitAsync(async () =>
        {
            try
            {
                var stats = await frontend.Region.Ask<ClusterShardingStats>(new GetClusterShardingStats(TimeSpan.FromSeconds(1)), TimeSpan.FromSeconds(3)).ConfigureAwait(false);
                return stats.Regions.Count >= regions;
            }
            catch (AskTimeoutException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60), $"{regions} expert regions").ConfigureAwait(false);

    private static Task WaitAsync(Func<bool> condition, TimeSpan timeout, string what) => WaitAsync(() => Task.FromResult(condition()), timeout, what);

    private static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition().ConfigureAwait(false))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"cluster benchmark: {what} not reached within {timeout.TotalSeconds:0} s.");
            await Task.Delay(50).ConfigureAwait(false);
        }
    }
}
