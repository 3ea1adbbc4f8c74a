using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Event;
using UniPerceiverMoe.Actors.Serialization;
using static UniPerceiverMoe.Actors.Cluster.ExpertShardProtocol;

namespace UniPerceiverMoe.Actors.Cluster.DataPlane;

/// <summary>
/// An expert node's data plane: a TCP listener (on the remoting hostname) that takes compute requests (<see cref="IComputeRequest"/>) and
/// <see cref="ProbeHop"/> requests straight from frontends, so tensor payloads skip Akka.Remote's envelope copies and
/// its actor hand-offs.
/// <list type="bullet">
/// <item>Every connection gets a thread of its own that authenticates the peer (<see cref="DataPlaneSecurity"/>),
/// then reads frames with blocking calls. A request for a group running on this node is delivered to the group
/// actor directly (<see cref="DirectGroups"/>); groups run on the caller-runs dispatcher, so an idle group computes
/// on this thread and its reply is written back by the same thread: one wake-up per hop. A group that is not
/// running here goes through the shard region, which starts it or forwards to its current home; replies tell the
/// frontend the data endpoint of the group's node.</item>
/// <item>Limits (<see cref="DataPlaneLimits"/>): connections in all and per peer address, a handshake deadline, an
/// idle timeout between frames and a read timeout inside one, and bodies judged by manifest and size before any
/// body memory is taken. Only groups of this node's placement are served; any other id is refused and counted,
/// and never creates an entity.</item>
/// <item>A peer that fails authentication, or sends a malformed frame, gets a closed connection (counted and
/// logged); nothing else is affected.</item>
/// </list>
/// </summary>
public sealed class DataPlaneServer : IDisposable
{
    private readonly TcpListener listener;
    private readonly DataPlaneLimits limits;
    private readonly DataPlaneSecurity security;
    private readonly TimeSpan askTimeout;
    private readonly ILoggingAdapter log;
    private readonly ClusterCounters counters;
    private readonly ConcurrentDictionary<IPAddress, int> perPeer = new();
    private readonly ConcurrentDictionary<Connection, byte> watched = new();
    private Timer? sweeper;
    private int connections;
    private volatile bool stopping;
    private IActorRef? region;
    private ExpertNodeContext? context;
    private HashSet<string> served = [];
    private IActorRefProvider? provider;

    private DataPlaneServer(TcpListener listener, string endpoint, DataPlaneLimits limits, DataPlaneSecurity security, TimeSpan askTimeout,
        ILoggingAdapter log, ClusterCounters counters)
    {
        this.listener = listener;
        Endpoint = endpoint;
        this.limits = limits;
        this.security = security;
        this.askTimeout = askTimeout;
        this.log = log;
        this.counters = counters;
    }

    /// <summary>"host:port" as frontends dial it.</summary>
    public string Endpoint { get; }

    /// <summary>Connections open now.</summary>
    public int Connections => Volatile.Read(ref connections);

    /// <summary>Binds <paramref name="hostname"/>:<paramref name="port"/> (0: any free port) and advertises
    /// <paramref name="advertisedHost"/> with the bound port; serving starts with <see cref="Serve"/>.</summary>
    public static DataPlaneServer Bind(string hostname, string advertisedHost, int port, DataPlaneLimits limits, DataPlaneSecurity security,
        TimeSpan askTimeout, ILoggingAdapter log, ClusterCounters counters)
    {
        var address = IPAddress.TryParse(hostname, out var ip) ? ip : Dns.GetHostAddresses(hostname).First();
        var listener = new TcpListener(address, port);
        listener.Start();
        int bound = ((IPEndPoint)listener.LocalEndpoint).Port;
        return new DataPlaneServer(listener, $"{advertisedHost}:{bound}", limits, security, askTimeout, log, counters);
    }

    /// <summary>Starts accepting: requests for the groups of <paramref name="node"/>'s plan go to its running groups, or to <paramref name="shardRegion"/>.</summary>
    public void Serve(ActorSystem system, IActorRef shardRegion, ExpertNodeContext node)
    {
        region = shardRegion;
        context = node;
        served = node.Plan.Groups.Select(g => g.Id).ToHashSet(StringComparer.Ordinal);
        provider = ((ExtendedActorSystem)system).Provider;
        new Thread(AcceptLoop) { IsBackground = true, Name = $"upmoe-data-plane-accept {Endpoint}" }.Start();
        var period = TimeSpan.FromMilliseconds(Math.Clamp(Math.Min(limits.ReadTimeout.TotalMilliseconds, limits.IdleTimeout.TotalMilliseconds) / 4, 50, 1000));
        sweeper = new Timer(_ => Sweep(), null, period, period);
    }

    private void AcceptLoop()
    {
        while (!stopping)
        {
            Socket socket;
            try
            {
                socket = listener.AcceptSocket();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                if (!stopping) log.Warning("data plane {0}: accept failed ({1}); no longer serving.", Endpoint, e.Message);
                return;
            }
            var peer = (socket.RemoteEndPoint as IPEndPoint)?.Address ?? IPAddress.None;
            if (!Admit(peer, out string refusal))
            {
                counters.DataPlaneRefused.Increment();
                log.Warning("data plane {0}: refused a connection from {1}: {2}", Endpoint, peer, refusal);
                socket.Dispose();
                continue;
            }
            new Thread(() => ServeConnection(socket, peer)) { IsBackground = true, Name = $"upmoe-data-plane {peer}" }.Start();
        }
    }

    /// <summary>Takes a connection slot in all and for <paramref name="peer"/>; false (and why) when either cap is reached.</summary>
    private bool Admit(IPAddress peer, out string refusal)
    {
        refusal = "";
        if (Interlocked.Increment(ref connections) > limits.MaxConnections)
        {
            Interlocked.Decrement(ref connections);
            refusal = $"{limits.MaxConnections} connections open (upmoe.cluster.data-plane.max-connections)";
            return false;
        }
        if (perPeer.AddOrUpdate(peer, 1, (_, n) => n + 1) > limits.MaxConnectionsPerPeer)
        {
            Release(peer);
            refusal = $"{limits.MaxConnectionsPerPeer} connections open from this address (upmoe.cluster.data-plane.max-connections-per-peer)";
            return false;
        }
        return true;
    }

    private void Release(IPAddress peer)
    {
        Interlocked.Decrement(ref connections);
        perPeer.AddOrUpdate(peer, 0, (_, n) => n - 1);
    }

    private void ServeConnection(Socket socket, IPAddress peer)
    {
        Connection? connection = null;
        try
        {
            socket.NoDelay = true;
            Stream stream = new BlockingStream(new NetworkStream(socket, ownsSocket: true));
            try
            {
                using var handshake = new CancellationTokenSource(limits.HandshakeTimeout);
                socket.ReceiveTimeout = (int)Math.Clamp(limits.HandshakeTimeout.TotalMilliseconds, 1, int.MaxValue);
                stream = security.AuthenticateAsServerAsync(stream, handshake.Token).GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is not ThreadInterruptedException)
            {
                counters.DataPlaneRefused.Increment();
                log.Warning("data plane {0}: refused {1}: not authenticated ({2}: {3})", Endpoint, peer, security.Name, e.Message);
                stream.Dispose();
                return;
            }
            connection = new Connection(stream);
            // Idle and read timeouts are enforced by the sweeper (a receive timeout would cost a system call per frame).
            socket.ReceiveTimeout = 0;
            watched[connection] = 0;
            using var reader = new DataPlaneFrameReader(stream, limits.MaxBodyBytes);
            Action frameStarted = connection.FrameStarted;
            while (!stopping)
            {
                connection.Idle();
                var message = reader.Read(out uint id, frameStarted);
                if (message is null) return;                                   // the frontend closed it
                Dispatch(connection, id, message);
            }
        }
        catch (Exception e) when (e is InvalidDataException or SerializationException)
        {
            counters.DataPlaneRejected.Increment();
            log.Warning("data plane {0}: closed the connection from {1}: {2}", Endpoint, peer, e.Message);
        }
        catch (Exception e) when (e is IOException or SocketException or EndOfStreamException or ObjectDisposedException)
        {
            if (!stopping) log.Debug("data plane {0}: connection from {1} ended: {2}", Endpoint, peer, e.Message);
        }
        finally
        {
            if (connection is not null)
            {
                watched.TryRemove(connection, out _);
                connection.Close();
            }
            socket.Dispose();
            Release(peer);
        }
    }

    /// <summary>Closes connections idle (between frames) longer than the idle timeout, or inside one frame longer than
    /// the read timeout; closing the stream ends the connection thread's blocked read.</summary>
    private void Sweep()
    {
        long now = Environment.TickCount64;
        foreach (var connection in watched.Keys)
        {
            var (inFrame, since) = connection.State;
            var limit = inFrame ? limits.ReadTimeout : limits.IdleTimeout;
            if (now - since <= limit.TotalMilliseconds) continue;
            counters.DataPlaneTimedOut.Increment();
            log.Info("data plane {0}: closed a connection {1} for {2:0.#} s (upmoe.cluster.data-plane.{3})", Endpoint,
                inFrame ? "stalled inside a frame" : "idle", (now - since) / 1000.0, inFrame ? "read-timeout" : "idle-timeout");
            connection.Close();
        }
    }

    private void Dispatch(Connection connection, uint id, IUpmoeWireMessage message)
    {
        if (message is not (IComputeRequest or ProbeHop)) throw new InvalidDataException($"data plane: {message.GetType().Name} is not a request.");
        var request = (IGroupEnvelope)message;
        var node = context!;
        counters.DataPlaneRequests.Increment();
        if (!served.Contains(request.GroupId))
        {
            counters.DataPlaneUnknownGroups.Increment();
            connection.Answer(id, new GroupFailed(request.GroupId, $"expert group '{request.GroupId}' is not in this node's placement ({node.Plan.Strategy}, {node.Plan.Groups.Count} groups)"));
            return;
        }
        if (node.Direct is { } direct && direct.TryGet(request.GroupId, out var device))
        {
            ExpertGroups.ExpertGroupProtocol.IExpertGroupMessage local;
            try
            {
                local = GroupRequests.ToLocal(request, device);
            }
            catch (Exception e)
            {
                connection.Answer(id, new GroupFailed(request.GroupId, $"expert group {request.GroupId} could not read its input: {e.Message}"));
                return;
            }
            var sink = new ReplySink(provider!, connection.SinkPath ??= provider!.TempPath(), reply => connection.Answer(id, reply), request.GroupId,
                GroupRequests.Describe(request), node.WireDtype, node.DataEndpoint);
            // Counted before the hand-off: a caller-runs group may compute and answer before TryTell returns, and a
            // reader of the counter who has seen the answer must see the hop counted too.
            counters.DataPlaneDirect.Increment();
            if (direct.TryTell(request.GroupId, local, sink)) return;
            counters.DataPlaneDirect.Add(-1);
            GroupRequests.Release(local);                                       // handed off meanwhile: the region knows where
        }
        region!.Ask<IUpmoeWireMessage>(message, askTimeout).ContinueWith(t =>
        {
            if (t.IsCompletedSuccessfully) connection.Answer(id, t.Result);
            else connection.Close();   // no answer in time: the frontend resends at once (over Akka) instead of waiting
        }, TaskScheduler.Default);
    }

    public void Dispose()
    {
        stopping = true;
        sweeper?.Dispose();
        listener.Stop();
        foreach (var connection in watched.Keys) connection.Close();
    }

    /// <summary>The writing side of one connection: replies come from group threads and continuations, one frame at a time.</summary>
    private sealed class Connection(Stream stream)
    {
        private readonly Lock gate = new();
        private readonly DataPlaneFrameWriter writer = new(stream);
        private bool closed;

        private long since = Environment.TickCount64;
        private volatile bool inFrame;

        /// <summary>The path every reply sink of this connection reports (sinks are never looked up by path).</summary>
        public ActorPath? SinkPath { get; set; }

        /// <summary>Whether a frame is being read, and since when (ms, <see cref="Environment.TickCount64"/>) this state holds.</summary>
        public (bool InFrame, long Since) State => (inFrame, Interlocked.Read(ref since));

        /// <summary>Waiting for the next frame (the idle timeout applies).</summary>
        public void Idle()
        {
            inFrame = false;
            Interlocked.Exchange(ref since, Environment.TickCount64);
        }

        /// <summary>A frame's first byte arrived (the read timeout applies until it is whole).</summary>
        public void FrameStarted()
        {
            Interlocked.Exchange(ref since, Environment.TickCount64);
            inFrame = true;
        }

        public void Answer(uint id, IUpmoeWireMessage reply)
        {
            lock (gate)
            {
                if (closed) return;
                try
                {
                    writer.Write(id, reply);
                }
                catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
                {
                    closed = true;
                    stream.Dispose();
                }
            }
        }

        public void Close()
        {
            lock (gate)
            {
                closed = true;
                stream.Dispose();
            }
        }
    }
}
