using System.Net;
using System.Net.Sockets;

namespace UniPerceiverMoe.Actors.Tests.Cluster.Security;

/// <summary>Connected (client, server) stream pairs over real loopback TCP, for handshake specs; every connection it
/// makes is closed with it.</summary>
internal sealed class LoopbackStreams : IDisposable
{
    private readonly TcpListener listener = new(IPAddress.Loopback, 0);
    private readonly List<IDisposable> owned = [];

    public LoopbackStreams() => listener.Start();

    /// <summary>A new connection's two ends on 127.0.0.1.</summary>
    public async Task<(NetworkStream Client, NetworkStream Server)> ConnectAsync()
    {
        var client = new TcpClient();
        owned.Add(client);
        var accepted = listener.AcceptTcpClientAsync();
        await client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        var server = await accepted;
        owned.Add(server);
        return (client.GetStream(), server.GetStream());
    }

    /// <summary>Closes <paramref name="stream"/> with the connections (a stream layered over one of them).</summary>
    public void Own(IDisposable stream) => owned.Add(stream);

    /// <summary>A token cancelled after <paramref name="seconds"/>: a handshake that hangs fails the spec instead.</summary>
    public static CancellationToken Within(int seconds) => new CancellationTokenSource(TimeSpan.FromSeconds(seconds)).Token;

    public void Dispose()
    {
        foreach (var d in owned) d.Dispose();
        listener.Stop();
    }
}
