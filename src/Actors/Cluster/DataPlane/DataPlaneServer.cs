using System.Net;
using System.Net.Sockets;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Event;
using UniPerceiverMoe.Actors.Serialization;
using static UniPerceiverMoe.Actors.Cluster.ExpertShardProtocol;

namespace UniPerceiverMoe.Actors.Cluster.DataPlane;

/// <summary>
/// An expert node's data plane: a TCP listener (on the remoting hostname) that takes <see cref="ApplyLinear"/> requests
/// straight from frontends and hands them to this node's shard region, so tensor payloads skip Akka.Remote's
/// envelope copies. Membership, routing and hand-off stay with Akka: the region delivers to wherever the group lives
/// now (forwarding over Akka if it moved), and replies tell the frontend the data endpoint of the group's current
/// node. A malformed frame closes its connection (logged); nothing else is affected.
/// </summary>
public sealed class DataPlaneServer : IDisposable
{
    private readonly TcpListener listener;
    private readonly CancellationTokenSource stopping = new();
    private readonly long maxBodyBytes;
    private readonly TimeSpan askTimeout;
    private readonly ILoggingAdapter log;
    private readonly ClusterCounters counters;
    private IActorRef? region;

    private DataPlaneServer(TcpListener listener, string endpoint, long maxBodyBytes, TimeSpan askTimeout, ILoggingAdapter log, ClusterCounters counters)
    {
        this.listener = listener;
        Endpoint = endpoint;
        this.maxBodyBytes = maxBodyBytes;
        this.askTimeout = askTimeout;
        this.log = log;
        this.counters = counters;
    }

    /// <summary>"host:port" as frontends dial it.</summary>
    public string Endpoint { get; }

    /// <summary>Binds <paramref name="hostname"/>:<paramref name="port"/> (0: any free port) and advertises
    /// <paramref name="advertisedHost"/> with the bound port; serving starts with <see cref="Serve"/>.</summary>
    public static DataPlaneServer Bind(string hostname, string advertisedHost, int port, long maxBodyBytes, TimeSpan askTimeout,
        ILoggingAdapter log, ClusterCounters counters)
    {
        var address = IPAddress.TryParse(hostname, out var ip) ? ip : Dns.GetHostAddresses(hostname).First();
        var listener = new TcpListener(address, port);
        listener.Start();
        int bound = ((IPEndPoint)listener.LocalEndpoint).Port;
        return new DataPlaneServer(listener, $"{advertisedHost}:{bound}", maxBodyBytes, askTimeout, log, counters);
    }

    public void Serve(IActorRef shardRegion)
    {
        region = shardRegion;
        _ = Task.Run(AcceptLoopAsync);
    }

    private async Task AcceptLoopAsync()
    {
        while (!stopping.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (!stopping.IsCancellationRequested) log.Warning("data plane {0}: accept failed ({1}); no longer serving.", Endpoint, e.Message);
                return;
            }
            client.NoDelay = true;
            _ = Task.Run(() => ServeConnectionAsync(client));
        }
    }

    private async Task ServeConnectionAsync(TcpClient client)
    {
        string peer = client.Client.RemoteEndPoint?.ToString() ?? "?";
        using (client)
        {
            var stream = client.GetStream();
            try
            {
                while (!stopping.IsCancellationRequested)
                {
                    var message = await DataPlaneFrames.ReadAsync(stream, maxBodyBytes, stopping.Token).ConfigureAwait(false);
                    if (message is null) return;                                   // the frontend closed it
                    if (message is not ApplyLinear request)
                        throw new InvalidDataException($"data plane: {message.GetType().Name} is not a request.");
                    counters.DataPlaneRequests.Increment();
                    // No reply within the attempt timeout: close, so the frontend resends (over Akka) at once.
                    var reply = await region!.Ask<IUpmoeWireMessage>(request, askTimeout, stopping.Token).ConfigureAwait(false);
                    await DataPlaneFrames.WriteAsync(stream, reply, stopping.Token).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is InvalidDataException or SerializationException)
            {
                counters.DataPlaneRejected.Increment();
                log.Warning("data plane {0}: closed the connection from {1}: {2}", Endpoint, peer, e.Message);
            }
            catch (Exception e) when (e is IOException or SocketException or EndOfStreamException or OperationCanceledException
                or AskTimeoutException or ObjectDisposedException)
            {
                if (!stopping.IsCancellationRequested) log.Debug("data plane {0}: connection from {1} ended: {2}", Endpoint, peer, e.Message);
            }
        }
    }

    public void Dispose()
    {
        stopping.Cancel();
        listener.Stop();
        stopping.Dispose();
    }
}
