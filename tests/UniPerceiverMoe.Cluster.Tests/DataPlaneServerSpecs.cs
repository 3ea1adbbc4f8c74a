using System.Diagnostics;
using System.Net.Sockets;
using Akka.Actor;
using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Actors.Cluster.DataPlane;
using UniPerceiverMoe.Actors.Cluster.Security;
using UniPerceiverMoe.Actors.Diagnostics;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Actors.Serialization;
using UniPerceiverMoe.Actors.Settings;
using static TorchSharp.torch;
using static UniPerceiverMoe.Actors.Cluster.ExpertShardProtocol;
using Local = UniPerceiverMoe.Actors.ExpertGroups.ExpertGroupProtocol;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>
/// A data-plane server and client over loopback with scripted groups (no model): multiplexing keeps every reply with
/// its request (results, failures, timeouts), a hung group stalls no other group, and the node's limits hold.
/// </summary>
public sealed class DataPlaneServerSpecs
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Many_requests_in_flight_on_one_connection_should_each_get_their_own_reply()
    {
        using var node = new ScriptedNode();
        var replies = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => node.Client.SendAsync(node.Endpoint, "G1", Probe("G1", i), Long)));
        for (int i = 0; i < replies.Length; i++)
            Assert.Equal(i, Value(Assert.IsType<RequestAnswered>(replies[i])));
        Assert.Equal(1, node.Client.OpenConnections);
        Assert.Equal(64, node.Counters.DataPlaneDirect.Value);
    }

    [Fact]
    public async Task A_group_that_fails_in_the_middle_of_a_burst_should_fail_those_requests_only()
    {
        using var node = new ScriptedNode();
        var replies = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            node.Client.SendAsync(node.Endpoint, "G1", Probe("G1", i is 7 or 13 ? ScriptedGroup.Fail : i), Long)));
        for (int i = 0; i < replies.Length; i++)
            if (i is 7 or 13) Assert.Contains("scripted failure", Assert.IsType<GroupFailed>(replies[i]).Reason);
            else Assert.Equal(i, Value(Assert.IsType<RequestAnswered>(replies[i])));
    }

    [Fact]
    public async Task A_hung_group_should_not_hold_back_another_groups_replies()
    {
        using var node = new ScriptedNode();
        var hung = node.Client.SendAsync(node.Endpoint, "G2", Probe("G2", ScriptedGroup.Hang), Long);
        await TestCluster.AwaitAsync(() => node.Hung.CurrentCount == 1, Long, "the G2 request to reach its group");
        var others = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => node.Client.SendAsync(node.Endpoint, "G1", Probe("G1", i), Long)));
        Assert.All(others, r => Assert.IsType<RequestAnswered>(r));
        Assert.False(hung.IsCompleted);
        node.Release();
        Assert.Equal(ScriptedGroup.Hang, Value(Assert.IsType<RequestAnswered>(await hung.WaitAsync(Long))));
    }

    [Fact]
    public async Task A_request_past_its_deadline_should_time_out_fail_its_connection_over_and_the_next_request_should_reconnect()
    {
        using var node = new ScriptedNode();
        var clock = Stopwatch.StartNew();
        var late = node.Client.SendAsync(node.Endpoint, "G2", Probe("G2", ScriptedGroup.Hang), TimeSpan.FromMilliseconds(300));
        await TestCluster.AwaitAsync(() => node.Hung.CurrentCount == 1, Long, "the G2 request to reach its group");
        var queued = node.Client.SendAsync(node.Endpoint, "G2", Probe("G2", 5), Long);   // behind the hung one
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => late);
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<IOException>(() => queued);                 // its connection closed: resent elsewhere
        node.Release();
        Assert.Equal(9, Value(Assert.IsType<RequestAnswered>(await node.Client.SendAsync(node.Endpoint, "G2", Probe("G2", 9), Long))));
    }

    [Fact]
    public async Task A_group_outside_the_placement_should_be_refused_counted_and_never_reach_the_region()
    {
        using var node = new ScriptedNode();
        var reply = Assert.IsType<GroupFailed>(await node.Client.SendAsync(node.Endpoint, "X9", Probe("X9", 1), Long));
        Assert.Contains("not in this node's placement", reply.Reason);
        Assert.Equal(1, node.Counters.DataPlaneUnknownGroups.Value);
        Assert.Equal(0, node.RegionRequests);
    }

    [Fact]
    public async Task Connections_over_the_per_peer_cap_should_be_closed_at_accept_and_counted()
    {
        using var node = new ScriptedNode(Limits() with { MaxConnectionsPerPeer = 2 });
        using var a = Connect(node.Endpoint);
        using var b = Connect(node.Endpoint);
        await TestCluster.AwaitAsync(() => node.Server.Connections == 2, Long, "two connections admitted");
        using var c = Connect(node.Endpoint);
        Assert.Equal(0, await c.GetStream().ReadAsync(new byte[1]).AsTask().WaitAsync(Long));   // closed, nothing sent
        Assert.Equal(1, node.Counters.DataPlaneRefused.Value);
    }

    [Fact]
    public async Task Idle_connections_and_connections_stalled_inside_a_frame_should_be_closed_and_counted()
    {
        using var node = new ScriptedNode(Limits() with { IdleTimeout = TimeSpan.FromMilliseconds(300), ReadTimeout = TimeSpan.FromMilliseconds(300) });
        using var idle = Connect(node.Endpoint);
        using var stalled = Connect(node.Endpoint);
        await stalled.GetStream().WriteAsync(DataPlaneFrames.Header(1, "upmoe.probe", 1 << 20));   // a header, then nothing
        Assert.Equal(0, await idle.GetStream().ReadAsync(new byte[1]).AsTask().WaitAsync(Long));
        Assert.Equal(0, await stalled.GetStream().ReadAsync(new byte[1]).AsTask().WaitAsync(Long));
        await TestCluster.AwaitAsync(() => node.Counters.DataPlaneTimedOut.Value == 2 && node.Server.Connections == 0, Long, "both closed and counted");
    }

    [Fact]
    public async Task With_a_secret_only_peers_holding_it_should_be_served_and_the_rest_refused_before_any_frame()
    {
        var secret = new ClusterSecuritySettings(false, "a cluster secret of 32 bytes ok!"u8.ToArray(), false, "127.0.0.1");
        using var node = new ScriptedNode(security: DataPlaneSecurity.From(secret));
        using var member = new DataPlaneClient(1 << 24, DataPlaneSecurity.From(secret));
        Assert.Equal(3, Value(Assert.IsType<RequestAnswered>(await member.SendAsync(node.Endpoint, "G1", Probe("G1", 3), Long))));

        using var stranger = new DataPlaneClient(1 << 24, DataPlaneSecurity.From(secret with { Secret = "another secret of 32 bytes, too!"u8.ToArray() }));
        await Assert.ThrowsAsync<IOException>(() => stranger.SendAsync(node.Endpoint, "G1", Probe("G1", 4), Long));
        using var unauthenticated = new DataPlaneClient(1 << 24);   // sends frames without a handshake
        await Assert.ThrowsAnyAsync<Exception>(() => unauthenticated.SendAsync(node.Endpoint, "G1", Probe("G1", 5), TimeSpan.FromSeconds(10)));
        await TestCluster.AwaitAsync(() => node.Counters.DataPlaneRefused.Value == 2, Long, "two refusals counted");
        Assert.Equal(1, node.Counters.DataPlaneDirect.Value);                 // only the member's request reached a group
    }

    [Fact]
    public async Task A_flood_of_connections_claiming_16_MiB_bodies_should_cost_little_memory_and_the_node_should_keep_serving()
    {
        // Everyone admitted (a cap would make this cheap): the bound under test is the per-connection buffer.
        using var node = new ScriptedNode(Limits() with { MaxConnections = 400, MaxConnectionsPerPeer = 400 });
        long before = ProcessCpu.ResidentBytes();
        var flood = new List<TcpClient>();
        try
        {
            var claim = DataPlaneFrames.Header(1, "upmoe.apply-linear", 16 << 20).Concat(new byte[10_000]).ToArray();
            for (int i = 0; i < 300; i++)
            {
                var client = Connect(node.Endpoint);
                flood.Add(client);
                await client.GetStream().WriteAsync(claim);
            }
            await TestCluster.AwaitAsync(() => node.Server.Connections == 300, Long, "300 flooding connections admitted");
            await Task.Delay(500);                                            // let every connection read what it was sent
            long grown = ProcessCpu.ResidentBytes() - before;
            Assert.InRange(grown, long.MinValue, 300L << 20);
            Assert.Equal(7, Value(Assert.IsType<RequestAnswered>(await node.Client.SendAsync(node.Endpoint, "G1", Probe("G1", 7), Long))));
        }
        finally
        {
            foreach (var client in flood) client.Dispose();
        }
    }

    internal static DataPlaneLimits Limits() => DataPlaneLimits.From(ClusterSettings.FromConfig(UpmoeConfig.Reference));

    private static TcpClient Connect(string endpoint)
    {
        var client = new TcpClient();
        client.Connect("127.0.0.1", int.Parse(endpoint[(endpoint.LastIndexOf(':') + 1)..]));
        return client;
    }

    /// <summary>An identity hop whose payload is one row holding <paramref name="value"/> (which also scripts the group).</summary>
    private static ProbeHop Probe(string group, int value)
    {
        var data = new byte[16];
        BitConverter.TryWriteBytes(data.AsSpan(0, 4), (float)value);
        return new ProbeHop(group, new TensorPayload(data, "float32", [1, 4]));
    }

    private static int Value(RequestAnswered reply) => (int)BitConverter.ToSingle(reply.Output.Bytes);

    /// <summary>An expert node's data plane over groups G1 and G2 that echo, fail or hang as their input says.</summary>
    private sealed class ScriptedNode : IDisposable
    {
        private readonly ActorSystem system = ActorSystem.Create("data-plane-specs", UpmoeConfig.Reference);
        private readonly ManualResetEventSlim gate = new(false);
        private int regionRequests;

        public ScriptedNode(DataPlaneLimits? limits = null, DataPlaneSecurity? security = null)
        {
            var plan = new PlacementPlan("scripted", [new ExpertGroupSpec("G1", []), new ExpertGroupSpec("G2", [])]);
            var direct = new DirectGroups();
            foreach (var group in plan.Groups)
                direct.Register(group.Id, system.ActorOf(Props.Create(() => new ScriptedGroup(gate, Hung)).WithDispatcher("upmoe-expert-dispatcher")), CPU);
            var region = system.ActorOf(Props.Create(() => new CountingRegion(() => Interlocked.Increment(ref regionRequests))));
            Server = DataPlaneServer.Bind("127.0.0.1", "127.0.0.1", 0, limits ?? Limits(), security ?? DataPlaneSecurity.None, TimeSpan.FromSeconds(5), system.Log, Counters);
            Server.Serve(system, region, new ExpertNodeContext(plan, _ => throw new InvalidOperationException("no weights here"), WireDtype.Float32,
                Long, new DeviceBalancer(["cpu"], _ => 0), ExpertGroupFaults.None, Counters, "scripted", Server.Endpoint, direct));
        }

        public ClusterCounters Counters { get; } = new();
        public DataPlaneServer Server { get; }
        public DataPlaneClient Client { get; } = new(1 << 24);
        public string Endpoint => Server.Endpoint;
        /// <summary>Requests waiting at the gate.</summary>
        public SemaphoreSlim Hung { get; } = new(0);
        public int RegionRequests => Volatile.Read(ref regionRequests);

        public void Release() => gate.Set();

        public void Dispose()
        {
            gate.Set();
            Client.Dispose();
            Server.Dispose();
            system.Terminate().Wait(Long);
        }
    }

    /// <summary>Echoes its input; fails on <see cref="Fail"/>; on <see cref="Hang"/> blocks (its caller-runs thread) until the gate opens.</summary>
    private sealed class ScriptedGroup : ReceiveActor
    {
        public const int Fail = -1, Hang = -2;

        public ScriptedGroup(ManualResetEventSlim gate, SemaphoreSlim hung) =>
            Receive<Local.Echo>(echo =>
            {
                int value = (int)BitConverter.ToSingle(echo.Input.bytes[..4]);
                if (value == Fail)
                {
                    echo.Input.Dispose();
                    Sender.Tell(new Status.Failure(new ExpertGroupException("scripted failure")));
                    return;
                }
                if (value == Hang)
                {
                    hung.Release();
                    gate.Wait();
                }
                Sender.Tell(new Local.Computed(echo.Input));
            });
    }

    /// <summary>Stands in for the shard region: counts what reaches it.</summary>
    private sealed class CountingRegion : ReceiveActor
    {
        public CountingRegion(Action counted) => ReceiveAny(m =>
        {
            counted();
            if (m is IGroupEnvelope e) Sender.Tell(new GroupFailed(e.GroupId, "not here"));
        });
    }
}
