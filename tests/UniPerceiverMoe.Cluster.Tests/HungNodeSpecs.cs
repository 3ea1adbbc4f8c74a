using System.Diagnostics;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>
/// An expert process is stopped with SIGSTOP: hung, not dead (its connections stay open, nothing is refused). With
/// two replicas the frontend hedges to the other replica after the hedge delay, so requests keep completing before
/// the failure detector has even noticed; after SIGCONT the node either rejoins or has been downed cleanly.
/// </summary>
[Trait("Category", "Golden")]
public sealed class HungNodeSpecs(ITestOutputHelper output)
{
    private static void Signal(string signal, int pid)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", [signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]))!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    [Fact]
    public async Task A_stopped_expert_process_should_cost_hedges_not_failures_and_after_SIGCONT_rejoin_or_be_downed_cleanly()
    {
        await using var cluster = await KillableCluster.StartAsync("per-layer", replicas: 2);
        bool stopped = false;
        try
        {
            var frontend = cluster.Frontend;
            var load = new RequestLoad(frontend.Engine, workers: 2);
            // Enough answers for every group's latency window to set an adaptive hedge delay.
            await TestCluster.AwaitAsync(() => load.Completed >= 30, TimeSpan.FromSeconds(120), "requests before the stop");
            Signal("-STOP", cluster.Victim.Id);
            stopped = true;
            var stoppedAt = load.Now;
            await TestCluster.AwaitAsync(() => load.Timeline.Count(t => t.Issued > stoppedAt) >= 10, TimeSpan.FromSeconds(60),
                "requests issued after the stop completing");
            var before = load.Timeline.Where(t => t.Issued < stoppedAt).Select(t => (t.Completed - t.Issued).TotalSeconds).ToArray();
            var after = load.Timeline.Where(t => t.Issued > stoppedAt).Select(t => (t.Completed - t.Issued).TotalSeconds).ToArray();
            output.WriteLine($"latency before the stop: median {before.Order().ElementAt(before.Length / 2):0.000} s, max {before.Max():0.000} s; " +
                $"after: median {after.Order().ElementAt(after.Length / 2):0.000} s, max {after.Max():0.000} s; " +
                $"hedges {frontend.Engine.Counters.ExpertHedges.Value}, hedge wins {frontend.Engine.Counters.ExpertHedgeWins.Value}");

            Signal("-CONT", cluster.Victim.Id);
            stopped = false;
            // Either the failure detector never gave up on it (it rejoins as reachable) or it was downed: then it is
            // removed from the membership and its process ends by itself.
            await TestCluster.AwaitAsync(() =>
                    frontend.Cluster.State.Unreachable.Count == 0
                    && (frontend.Cluster.State.Members.Any(m => m.Address == cluster.VictimAddress && m.Status == Akka.Cluster.MemberStatus.Up)
                        || (cluster.VictimRemoved && cluster.Victim.HasExited)),
                TimeSpan.FromSeconds(90), "the stopped node back up, or downed and exited");
            int issuedAfterCont = load.Issued;
            await TestCluster.AwaitAsync(() => load.Completed >= issuedAfterCont + 4, TimeSpan.FromSeconds(60), "requests after SIGCONT");
            await load.StopAsync();
            output.WriteLine($"after SIGCONT: {(cluster.VictimRemoved ? "downed and exited" : "rejoined")}; issued {load.Issued}, completed {load.Completed}, failed {load.Failed}");
            foreach (var e in load.Errors) output.WriteLine("error: " + e);

            Assert.Equal(load.Issued, load.Completed + load.Failed);
            Assert.Equal(0, load.Failed);
            Assert.Equal(0, load.Wrong);
            Assert.True(frontend.Engine.Counters.ExpertHedges.Value > 0, "requests to the stopped replica should have been hedged");
            Assert.True(frontend.Engine.Counters.ExpertHedgeWins.Value > 0, "a hedge should have answered for the stopped replica");
        }
        catch
        {
            foreach (var line in cluster.NodeLogs) output.WriteLine("node: " + line);
            throw;
        }
        finally
        {
            if (stopped) Signal("-CONT", cluster.Victim.Id);   // never leave a stopped process behind
        }
    }
}
