using UniPerceiverMoe.Actors.Cluster;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>
/// Expert nodes in separate OS processes; the oldest (which also runs the shard coordinator) is killed with kill -9
/// while requests flow. Its groups are re-homed after the split-brain resolver downs it, in-flight parts are resent,
/// and every request is accounted for: completed with the right result, or reported failed.
/// </summary>
[Trait("Category", "Golden")]
public sealed class ProcessKillSpecs(ITestOutputHelper output)
{
    private const string Placement = "per-layer";

    [Fact]
    public async Task Killing_an_expert_process_mid_run_should_rehome_its_groups_and_account_for_every_request()
    {
        await using var frontend = TestCluster.StartFrontend(Placement);
        string[] arguments =
        [
            "--config", TestCluster.HoconFile("experts.conf"), "--config", TestCluster.HoconFile("loopback.conf"),
            "--set", TestCluster.Common(Placement), "--set", $"akka.cluster.seed-nodes = [\"{frontend.Address}\"]",
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
            output.WriteLine($"killed pid {victim.Id}; removed after {(removedAt - killedAt).TotalSeconds:0.0} s; " +
                $"first request issued after the kill completed after {recovery.TotalSeconds:0.0} s");
            output.WriteLine($"issued {load.Issued}, completed {load.Completed}, failed {load.Failed}, wrong {load.Wrong}; " +
                string.Join(", ", frontend.Counters.Snapshot().Select(kv => $"{kv.Key}={kv.Value}")));
            foreach (var e in load.Errors) output.WriteLine("error: " + e);

            Assert.Equal(load.Issued, load.Completed + load.Failed);
            Assert.Equal(load.Completed, frontend.Engine.Counters.RequestsCompleted.Value);
            Assert.Equal(load.Failed, frontend.Engine.Counters.RequestsFailed.Value);
            Assert.Equal(0, load.Failed);
            Assert.Equal(0, load.Wrong);
            Assert.True(frontend.Counters.Resends.Value > 0, "parts sent to the killed node should have been resent");
            Assert.True(recovery < TimeSpan.FromSeconds(15), $"recovery took {recovery.TotalSeconds:0.0} s");
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
