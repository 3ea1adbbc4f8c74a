using System.Collections.Concurrent;
using System.Net.Sockets;
using UniPerceiverMoe.Actors.Serialization;
using static UniPerceiverMoe.Actors.Cluster.ExpertShardProtocol;

namespace UniPerceiverMoe.Actors.Cluster.DataPlane;

/// <summary>
/// A frontend's side of the data plane: pooled TCP connections per expert node endpoint, one request in flight per
/// connection (a request rents one, or opens one). A connection that fails or times out is closed, never reused;
/// the caller then resends over Akka (see <see cref="ClusterGroupTransport"/>).
/// </summary>
public sealed class DataPlaneClient(long maxBodyBytes) : IDisposable
{
    private readonly ConcurrentDictionary<string, ConcurrentBag<TcpClient>> idle = new(StringComparer.Ordinal);
    private volatile bool disposed;

    /// <summary>Sends <paramref name="request"/> to <paramref name="endpoint"/> ("host:port") and returns the reply.</summary>
    /// <exception cref="IOException">Connection refused, reset or closed; or a malformed reply.</exception>
    /// <exception cref="OperationCanceledException">No reply within <paramref name="timeout"/>.</exception>
    public async Task<IUpmoeWireMessage> SendAsync(string endpoint, ApplyLinear request, TimeSpan timeout)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        using var deadline = new CancellationTokenSource(timeout);
        var client = Rent(endpoint) ?? await ConnectAsync(endpoint, deadline.Token).ConfigureAwait(false);
        try
        {
            var stream = client.GetStream();
            await DataPlaneFrames.WriteAsync(stream, request, deadline.Token).ConfigureAwait(false);
            var reply = await DataPlaneFrames.ReadAsync(stream, maxBodyBytes, deadline.Token).ConfigureAwait(false)
                ?? throw new IOException($"data plane {endpoint}: the node closed the connection before replying.");
            Return(endpoint, client);
            return reply;
        }
        catch (Exception e)
        {
            client.Dispose();
            if (e is InvalidDataException or System.Runtime.Serialization.SerializationException or EndOfStreamException or SocketException)
                throw new IOException($"data plane {endpoint}: {e.Message}", e);
            throw;
        }
    }

    private TcpClient? Rent(string endpoint)
    {
        if (!idle.TryGetValue(endpoint, out var bag)) return null;
        while (bag.TryTake(out var client))
            if (client.Connected) return client;
            else client.Dispose();
        return null;
    }

    private void Return(string endpoint, TcpClient client)
    {
        if (disposed) client.Dispose();
        else idle.GetOrAdd(endpoint, _ => []).Add(client);
    }

    private static async Task<TcpClient> ConnectAsync(string endpoint, CancellationToken cancellation)
    {
        int colon = endpoint.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(endpoint.AsSpan(colon + 1), out int port))
            throw new IOException($"data plane: '{endpoint}' is not host:port.");
        var client = new TcpClient { NoDelay = true };
        try
        {
            await client.ConnectAsync(endpoint[..colon], port, cancellation).ConfigureAwait(false);
            return client;
        }
        catch (SocketException e)
        {
            client.Dispose();
            throw new IOException($"data plane {endpoint}: {e.Message}", e);
        }
    }

    public void Dispose()
    {
        disposed = true;
        foreach (var bag in idle.Values)
            while (bag.TryTake(out var client)) client.Dispose();
    }
}
