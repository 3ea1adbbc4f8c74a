using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Actors.Placement;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>
/// Expert nodes in separate OS processes; the oldest (which also runs the shard coordinator) is killed with kill -9
/// while requests flow. Every request is accounted for: completed with the right result, or reported failed. With one
/// replica per group the killed node's groups are re-homed after the split-brain resolver downs it and in-flight
/// parts are resent; with two replicas, kept on different nodes, requests fail over to the survivor at once.
/// </summary>
[Trait("Category", "Golden")]
public sealed class ProcessKillSpecs(ITestOutputHelper output)
{
    private const string Placement = "per-layer";

    private sealed record KillRun(ClusterFrontend Frontend, RequestLoad Load, TimeSpan Recovery, TimeSpan Removal, string Survivor,
        IReadOnlyDictionary<string, string> HomesBefore);

    [Fact]
    public Task Killing_an_expert_process_mid_run_should_rehome_its_groups_and_account_for_every_request() => KillMidRunAsync(replicas: 1, run =>
    {
        Assert.True(run.Frontend.Counters.Resends.Value > 0, "parts sent to the killed node should have been resent");
        Assert.True(run.Recovery < TimeSpan.FromSeconds(15), $"recovery took {run.Recovery.TotalSeconds:0.0} s");
        return Task.CompletedTask;
    });

    [Fact]
    public Task With_replicas_on_both_nodes_a_kill_should_fail_over_without_waiting_for_the_node_to_be_removed() => KillMidRunAsync(replicas: 2, run =>
    {
        foreach (var replicas in run.HomesBefore.GroupBy(h => ReplicaIds.TryParse(h.Key, out var group, out _) ? group : h.Key))
            Assert.Equal(2, replicas.Select(r => r.Value).Distinct().Count());             // one replica of each group per node
        Assert.True(run.Frontend.Engine.Counters.ExpertFailovers.Value > 0, "requests should have moved to the surviving replicas");
        Assert.True(run.Recovery < run.Removal,
            $"a request issued after the kill should complete before the node is removed ({run.Recovery.TotalSeconds:0.0} s vs {run.Removal.TotalSeconds:0.0} s)");
        return Task.CompletedTask;
    });

    private async Task KillMidRunAsync(int replicas, Func<KillRun, Task> check)
    {
        string extra = $"upmoe.placement.replicas = {replicas}";
        await using var frontend = TestCluster.StartFrontend(Placement, extra);
        string[] arguments =
        [
            "--config", TestCluster.HoconFile("experts.conf"), "--config", TestCluster.HoconFile("loopback.conf"),
            "--set", TestCluster.Common(Placement), "--set", extra, "--set", $"akka.cluster.seed-nodes = [\"{frontend.Address}\"]",
        ];
        await using var victim = ExpertProcess.Start(TestCluster.NodeCommand(), arguments);
        ExpertProcess? survivor = null;
        try
        {
            var victimAddress = await victim.WhenUp(TimeSpan.FromSeconds(60));
            survivor = ExpertProcess.Start(TestCluster.NodeCommand(), arguments);
            var survivorAddress = await survivor.WhenUp(TimeSpan.FromSeconds(60));
            await TestCluster.AwaitFormedAsync(frontend, members: 3, expertRegions: 2);
            var before = await TestCluster.GroupHomesAsync(frontend);
            Assert.Equal(new HashSet<string> { survivorAddress.ToString(), victimAddress.ToString() }, before.Values.ToHashSet());

            var load = new RequestLoad(frontend.Engine, workers: 2);
            await TestCluster.AwaitAsync(() => load.Completed >= 4, TimeSpan.FromSeconds(30), "requests before the kill");
            var killedAt = load.Now;
            victim.Kill();
            await TestCluster.AwaitAsync(() => frontend.Cluster.State.Members.All(m => m.Address != victimAddress), TimeSpan.FromSeconds(30),
                "the killed node downed and removed");
            var removedAt = load.Now;
            await TestCluster.AwaitAsync(() => load.Timeline.Count(t => t.Issued > killedAt) >= 4, TimeSpan.FromSeconds(45),
                "requests issued after the kill completing");
            await load.StopAsync();

            var recovery = load.Timeline.Where(t => t.Issued > killedAt).Min(t => t.Completed) - killedAt;
            output.WriteLine($"{replicas} replica(s): killed pid {victim.Id}; removed after {(removedAt - killedAt).TotalSeconds:0.0} s; " +
                $"first request issued after the kill completed after {recovery.TotalSeconds:0.0} s");
            output.WriteLine($"issued {load.Issued}, completed {load.Completed}, failed {load.Failed}, wrong {load.Wrong}; " +
                string.Join(", ", frontend.Counters.Snapshot().Select(kv => $"{kv.Key}={kv.Value}")));
            foreach (var e in load.Errors) output.WriteLine("error: " + e);

            Assert.Equal(load.Issued, load.Completed + load.Failed);
            Assert.Equal(load.Completed, frontend.Engine.Counters.RequestsCompleted.Value);
            Assert.Equal(load.Failed, frontend.Engine.Counters.RequestsFailed.Value);
            Assert.Equal(0, load.Failed);
            Assert.Equal(0, load.Wrong);
            await check(new KillRun(frontend, load, recovery, removedAt - killedAt, survivorAddress.ToString(), before));
            var after = await TestCluster.GroupHomesAsync(frontend);
            Assert.All(after.Values, node => Assert.Equal(survivorAddress.ToString(), node));
        }
        catch
        {
            foreach (var line in victim.Log.Concat(survivor?.Log ?? [])) output.WriteLine("node: " + line);
            throw;
        }
        finally
        {
            if (survivor is not null) await survivor.DisposeAsync();
        }
    }
}
