using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using UniPerceiverMoe.Actors.Serialization;

namespace UniPerceiverMoe.Actors.Cluster.DataPlane;

/// <summary>
/// A frontend's side of the data plane: one multiplexed connection per (expert node endpoint, expert group). All of a
/// group's requests share its connection, whatever their number in flight; different groups never share one, so a
/// slow or hung group cannot hold back another group's replies (no head-of-line blocking across groups), and the
/// node computes a group's requests in arrival order on the thread that reads them. A request that fails or times
/// out closes its connection (its other requests fail over too); the caller then resends over Akka
/// (see <see cref="ClusterGroupTransport"/>).
/// </summary>
public sealed class DataPlaneClient(long maxBodyBytes, DataPlaneSecurity security) : IDisposable
{
    private readonly ConcurrentDictionary<(string Endpoint, string Group), DataPlaneConnection> connections = new();
    private readonly SemaphoreSlim connecting = new(1, 1);
    private Timer? watchdog;
    private volatile bool disposed;

    public DataPlaneClient(long maxBodyBytes) : this(maxBodyBytes, DataPlaneSecurity.None)
    {
    }

    /// <summary>Sends <paramref name="request"/> for <paramref name="group"/> to <paramref name="endpoint"/> ("host:port") and returns the reply.</summary>
    /// <exception cref="IOException">Connection refused, reset, closed or not authenticated; or a malformed reply.</exception>
    /// <exception cref="OperationCanceledException">No reply within <paramref name="timeout"/>.</exception>
    public async Task<IUpmoeWireMessage> SendAsync(string endpoint, string group, IUpmoeWireMessage request, TimeSpan timeout)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var connection = connections.TryGetValue((endpoint, group), out var open) && !open.IsClosed
            ? open
            : await ConnectAsync(endpoint, group, timeout).ConfigureAwait(false);
        EnsureWatchdog();
        var reply = connection.Send(request, Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency));
        try
        {
            return await reply.ConfigureAwait(false);
        }
        catch (TimeoutException e)
        {
            throw new OperationCanceledException($"data plane {endpoint}: no reply for group {group} within {timeout.TotalSeconds:0.###} s.", e);
        }
    }

    /// <summary>One timer for every deadline of this client (a timer per request would cost an allocation, a
    /// finalizer and a timer-queue entry per hop). Deadlines are met within <see cref="WatchdogPeriod"/>.</summary>
    private void EnsureWatchdog()
    {
        if (watchdog is not null) return;
        var timer = new Timer(_ =>
        {
            long now = Stopwatch.GetTimestamp();
            foreach (var connection in connections.Values) connection.ExpireOverdue(now);
        });
        if (Interlocked.CompareExchange(ref watchdog, timer, null) is null) timer.Change(WatchdogPeriod, WatchdogPeriod);
        else timer.Dispose();
    }

    /// <summary>How often deadlines are checked: the precision of a data-plane timeout.</summary>
    public static readonly TimeSpan WatchdogPeriod = TimeSpan.FromMilliseconds(20);

    /// <summary>Connections open now (for metrics and tests).</summary>
    public int OpenConnections => connections.Values.Count(c => !c.IsClosed);

    private async Task<DataPlaneConnection> ConnectAsync(string endpoint, string group, TimeSpan timeout)
    {
        int colon = endpoint.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(endpoint.AsSpan(colon + 1), out int port))
            throw new IOException($"data plane: '{endpoint}' is not host:port.");
        using var deadline = new CancellationTokenSource(timeout);
        await connecting.WaitAsync(deadline.Token).ConfigureAwait(false);
        Socket? socket = null;
        try
        {
            // Another caller may have opened it while this one waited.
            if (connections.TryGetValue((endpoint, group), out var open) && !open.IsClosed) return open;
            socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            // Blocking calls only (see BlockingStream): a blocking connect on a pool thread, abandoned at the deadline
            // (disposing the socket ends it).
            var dial = socket;
            await Task.Run(() => dial.Connect(endpoint[..colon], port), deadline.Token).WaitAsync(deadline.Token).ConfigureAwait(false);
            socket.ReceiveTimeout = (int)Math.Clamp(timeout.TotalMilliseconds, 1, int.MaxValue);
            var stream = await security.AuthenticateAsClientAsync(new BlockingStream(new NetworkStream(socket, ownsSocket: false)), endpoint[..colon],
                deadline.Token).ConfigureAwait(false);
            socket.ReceiveTimeout = 0;   // replies may take as long as their group computes; callers time out themselves
            var connection = new DataPlaneConnection(endpoint, socket, stream, maxBodyBytes);
            connections[(endpoint, group)] = connection;
            if (disposed) connection.Dispose();
            return connection;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Refused, reset, or not authenticated (either side's proof, or TLS): the node cannot be reached here.
            socket?.Dispose();
            throw new IOException($"data plane {endpoint}: {e.Message}", e);
        }
        catch (OperationCanceledException)
        {
            socket?.Dispose();
            throw;
        }
        finally
        {
            connecting.Release();
        }
    }

    public void Dispose()
    {
        disposed = true;
        watchdog?.Dispose();
        foreach (var connection in connections.Values) connection.Dispose();
        connecting.Dispose();
    }
}
