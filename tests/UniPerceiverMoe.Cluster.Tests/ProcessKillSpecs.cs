using UniPerceiverMoe.Streams.Settings;
using UniPerceiverMoe.Streams.Hub;
using System.Collections.Concurrent;
using System.Diagnostics;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Streams;
using UniPerceiverMoe.Streams.Flows;
using UniPerceiverMoe.Streams.Sources;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>
/// Expert nodes in separate OS processes; the oldest (which also runs the shard coordinator) is killed with kill -9
/// while requests or a live caption stream flow. Every request is accounted for (completed with the right result, or
/// reported failed), every window is captioned, dropped or failed, and counted. With one replica per group the killed
/// node's groups are re-homed after the split-brain resolver downs it and in-flight parts are resent; with two
/// replicas, kept on different nodes, requests fail over to the survivor at once.
/// </summary>
[Trait("Category", "Golden")]
public sealed class ProcessKillSpecs(ITestOutputHelper output)
{
    private const string Placement = "per-layer";

    [Fact]
    public Task Killing_an_expert_process_mid_run_should_rehome_its_groups_and_account_for_every_request() => KillMidRunAsync(replicas: 1, (cluster, run) =>
    {
        Assert.True(cluster.Frontend.Counters.Resends.Value > 0, "parts sent to the killed node should have been resent");
        Assert.True(run.Recovery < TimeSpan.FromSeconds(15), $"recovery took {run.Recovery.TotalSeconds:0.0} s");
    });

    [Fact]
    public Task With_replicas_on_both_nodes_a_kill_should_fail_over_without_waiting_for_the_node_to_be_removed() => KillMidRunAsync(replicas: 2, (cluster, run) =>
    {
        foreach (var replicas in cluster.HomesBefore.GroupBy(h => ReplicaIds.TryParse(h.Key, out var group, out _) ? group : h.Key))
            Assert.Equal(2, replicas.Select(r => r.Value).Distinct().Count());             // one replica of each group per node
        Assert.True(cluster.Frontend.Engine.Counters.ExpertFailovers.Value > 0, "requests should have moved to the surviving replicas");
        Assert.True(run.Recovery < run.Removal,
            $"a request issued after the kill should complete before the node is removed ({run.Recovery.TotalSeconds:0.0} s vs {run.Removal.TotalSeconds:0.0} s)");
    });

    [Fact]
    public async Task A_live_caption_stream_should_keep_captioning_through_a_kill_and_account_for_every_window()
    {
        await using var cluster = await KillableCluster.StartAsync(Placement, replicas: 1);
        try
        {
            await cluster.Frontend.Engine.VocabularyBankAsync();
            await using var hub = CaptionStreamHub.Start(cluster.Frontend.Engine, StreamSettings.FromConfig(UpmoeConfig.Reference));
            var clock = Stopwatch.StartNew();
            var captions = new ConcurrentQueue<(StreamCaption Caption, TimeSpan At)>();
            var stream = hub.AddStream("camera", FrameSources.Synthetic("camera", 96, 72, fps: 30, TimeSpan.FromSeconds(30)),
                c => captions.Enqueue((c, clock.Elapsed)));
            await TestCluster.AwaitAsync(() => captions.Count >= 2, TimeSpan.FromSeconds(30), "captions before the kill");
            var killedAt = clock.Elapsed;
            cluster.Kill();
            await TestCluster.AwaitAsync(() => cluster.VictimRemoved, TimeSpan.FromSeconds(30), "the killed node downed and removed");
            var removedAt = clock.Elapsed;
            await stream.Completion.WaitAsync(TimeSpan.FromSeconds(120));

            var stats = stream.Stats.Snapshot();
            output.WriteLine($"killed at {killedAt.TotalSeconds:0.0} s, removed at {removedAt.TotalSeconds:0.0} s; {stats}; " +
                $"captions at {string.Join(" ", captions.Select(c => c.At.TotalSeconds.ToString("0.0")))}");
            Assert.True(stream.Stats.Balanced, $"windows in = captioned + dropped + failed should hold: {stats}");
            Assert.Equal(stats.Captioned, stats.Emitted);
            Assert.Equal(stats.Captioned, captions.Count);
            Assert.Equal(0, stats.Failed);
            Assert.Contains(captions, c => c.At > removedAt);                                      // the stream went on
            Assert.Equal(captions.Select(c => c.Caption.Window).Order(), captions.Select(c => c.Caption.Window));   // in order
        }
        catch
        {
            foreach (var line in cluster.NodeLogs) output.WriteLine("node: " + line);
            throw;
        }
    }

    private sealed record KillRun(RequestLoad Load, TimeSpan Recovery, TimeSpan Removal);

    private async Task KillMidRunAsync(int replicas, Action<KillableCluster, KillRun> check)
    {
        await using var cluster = await KillableCluster.StartAsync(Placement, replicas);
        try
        {
            var frontend = cluster.Frontend;
            var load = new RequestLoad(frontend.Engine, workers: 2);
            await TestCluster.AwaitAsync(() => load.Completed >= 4, TimeSpan.FromSeconds(30), "requests before the kill");
            cluster.Kill();
            var killedAt = load.Now;            // the process is gone: later requests cannot be answered by it
            await TestCluster.AwaitAsync(() => cluster.VictimRemoved, TimeSpan.FromSeconds(30), "the killed node downed and removed");
            var removedAt = load.Now;
            await TestCluster.AwaitAsync(() => load.Timeline.Count(t => t.Issued > killedAt) >= 4, TimeSpan.FromSeconds(45),
                "requests issued after the kill completing");
            await load.StopAsync();

            var recovery = load.Timeline.Where(t => t.Issued > killedAt).Min(t => t.Completed) - killedAt;
            output.WriteLine($"{replicas} replica(s): killed pid {cluster.Victim.Id}; removed after {(removedAt - killedAt).TotalSeconds:0.0} s; " +
                $"first request issued after the kill completed after {recovery.TotalSeconds:0.0} s");
            output.WriteLine($"issued {load.Issued}, completed {load.Completed}, failed {load.Failed}, wrong {load.Wrong}; " +
                string.Join(", ", frontend.Counters.Snapshot().Select(kv => $"{kv.Key}={kv.Value}")));
            foreach (var e in load.Errors) output.WriteLine("error: " + e);

            Assert.Equal(load.Issued, load.Completed + load.Failed);
            Assert.Equal(load.Completed, frontend.Engine.Counters.RequestsCompleted.Value);
            Assert.Equal(load.Failed, frontend.Engine.Counters.RequestsFailed.Value);
            Assert.Equal(0, load.Failed);
            Assert.Equal(0, load.Wrong);
            check(cluster, new KillRun(load, recovery, removedAt - killedAt));
            var after = await TestCluster.GroupHomesAsync(frontend);
            Assert.All(after.Values, node => Assert.Equal(cluster.SurvivorAddress.ToString(), node));
        }
        catch
        {
            foreach (var line in cluster.NodeLogs) output.WriteLine("node: " + line);
            throw;
        }
    }
}
