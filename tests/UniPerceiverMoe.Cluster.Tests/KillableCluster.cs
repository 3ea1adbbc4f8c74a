using UniPerceiverMoe.Bench.Processes;
using Akka.Actor;
using UniPerceiverMoe.Actors.Cluster;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>
/// A frontend in this process and two expert nodes as separate OS processes (the first, the victim, is the oldest and
/// so runs the shard coordinator), formed, every group started and spread over both. Disposing stops everything.
/// </summary>
public sealed class KillableCluster : IAsyncDisposable
{
    private KillableCluster(ClusterFrontend frontend, ExpertProcess victim, ExpertProcess survivor, Address victimAddress, Address survivorAddress,
        IReadOnlyDictionary<string, string> homes)
    {
        (Frontend, Victim, Survivor, VictimAddress, SurvivorAddress, HomesBefore) = (frontend, victim, survivor, victimAddress, survivorAddress, homes);
    }

    public ClusterFrontend Frontend { get; }
    public ExpertProcess Victim { get; }
    public ExpertProcess Survivor { get; }
    public Address VictimAddress { get; }
    public Address SurvivorAddress { get; }
    /// <summary>group id → node address once formed (before any kill).</summary>
    public IReadOnlyDictionary<string, string> HomesBefore { get; }

    /// <param name="victimExtra">HOCON for the victim only (e.g. a fixed data-plane port).</param>
    public static async Task<KillableCluster> StartAsync(string placement, int replicas, string victimExtra = "")
    {
        string extra = $"upmoe.placement.replicas = {replicas}";
        var frontend = TestCluster.StartFrontend(placement, extra);
        string[] arguments =
        [
            "--config", TestCluster.HoconFile("experts.conf"), "--config", TestCluster.HoconFile("loopback.conf"),
            "--set", TestCluster.Common(placement), "--set", extra, "--set", $"akka.cluster.seed-nodes = [\"{frontend.Address}\"]",
        ];
        ExpertProcess? victim = null, survivor = null;
        try
        {
            victim = ExpertProcess.Start(TestCluster.NodeCommand(), victimExtra.Length == 0 ? arguments : [.. arguments, "--set", victimExtra]);
            var victimAddress = await victim.WhenUp(TimeSpan.FromSeconds(60));
            survivor = ExpertProcess.Start(TestCluster.NodeCommand(), arguments);
            var survivorAddress = await survivor.WhenUp(TimeSpan.FromSeconds(60));
            await TestCluster.AwaitFormedAsync(frontend, members: 3, expertRegions: 2);
            var homes = await TestCluster.GroupHomesAsync(frontend);
            Assert.Equal(new HashSet<string> { survivorAddress.ToString(), victimAddress.ToString() }, homes.Values.ToHashSet());
            return new KillableCluster(frontend, victim, survivor, victimAddress, survivorAddress, homes);
        }
        catch
        {
            if (survivor is not null) await survivor.DisposeAsync();
            if (victim is not null) await victim.DisposeAsync();
            await frontend.DisposeAsync();
            throw;
        }
    }

    /// <summary>kill -9 of the victim.</summary>
    public void Kill() => Victim.Kill();

    public bool VictimRemoved => Frontend.Cluster.State.Members.All(m => m.Address != VictimAddress);

    /// <summary>Both nodes' output, for a failing test's log.</summary>
    public IEnumerable<string> NodeLogs => Victim.Log.Concat(Survivor.Log);

    public async ValueTask DisposeAsync()
    {
        await Survivor.DisposeAsync();
        await Victim.DisposeAsync();
        await Frontend.DisposeAsync();
    }
}
