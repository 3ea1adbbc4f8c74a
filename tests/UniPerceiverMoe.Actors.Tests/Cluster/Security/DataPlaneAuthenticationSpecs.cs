using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using UniPerceiverMoe.Actors.Cluster.Security;

namespace UniPerceiverMoe.Actors.Tests.Cluster.Security;

/// <summary>The shared-secret handshake over real loopback TCP connections.</summary>
public sealed class DataPlaneAuthenticationSpecs : IDisposable
{
    private static readonly byte[] Secret = Encoding.UTF8.GetBytes("correct horse battery staple 42");
    private static readonly byte[] OtherSecret = Encoding.UTF8.GetBytes("a different secret of the same size");
    private readonly LoopbackStreams loopback = new();

    public void Dispose() => loopback.Dispose();

    private Task<(NetworkStream Client, NetworkStream Server)> ConnectAsync() => loopback.ConnectAsync();

    private static CancellationToken Within(int seconds) => LoopbackStreams.Within(seconds);

    [Fact]
    public async Task Peers_with_the_same_secret_should_both_be_authenticated_and_then_share_the_stream()
    {
        var (client, server) = await ConnectAsync();
        await Task.WhenAll(
            DataPlaneAuthentication.AuthenticateAsClientAsync(client, Secret, Within(20)),
            DataPlaneAuthentication.AuthenticateAsServerAsync(server, Secret, Within(20)));
        await client.WriteAsync("after"u8.ToArray());
        var read = new byte[5];
        await server.ReadExactlyAsync(read);
        Assert.Equal("after", Encoding.ASCII.GetString(read));
    }

    [Fact]
    public async Task A_client_with_another_secret_should_be_refused_by_the_server_and_learn_the_server_is_not_its_cluster()
    {
        var (client, server) = await ConnectAsync();
        var serverSide = DataPlaneAuthentication.AuthenticateAsServerAsync(server, Secret, Within(20));
        // The client checks the server's proof first: with another secret it refuses the server.
        var clientError = await Assert.ThrowsAsync<DataPlaneAuthenticationException>(
            () => DataPlaneAuthentication.AuthenticateAsClientAsync(client, OtherSecret, Within(20)));
        Assert.Contains("server does not hold", clientError.Message);
        client.Close();
        var serverError = await Assert.ThrowsAsync<DataPlaneAuthenticationException>(() => serverSide);
        Assert.Contains("closed before the client's proof", serverError.Message);
    }

    [Fact]
    public async Task A_server_should_refuse_a_client_whose_proof_does_not_verify()
    {
        var (client, server) = await ConnectAsync();
        var serverSide = DataPlaneAuthentication.AuthenticateAsServerAsync(server, Secret, Within(20));
        // A client that passes the hello but answers with a forged proof (it cannot compute the right one).
        byte[] hello = [.. "UPMA"u8.ToArray(), 1, .. RandomNumberGenerator.GetBytes(32)];
        await client.WriteAsync(hello);
        var proof = new byte[DataPlaneAuthentication.ServerProofSize];
        await client.ReadExactlyAsync(proof);
        await client.WriteAsync(RandomNumberGenerator.GetBytes(32));
        var error = await Assert.ThrowsAsync<DataPlaneAuthenticationException>(() => serverSide);
        Assert.Contains("client does not hold", error.Message);
    }

    [Fact]
    public async Task A_recorded_client_proof_should_not_verify_in_a_new_session()
    {
        var (client, server) = await ConnectAsync();
        var hello = new byte[DataPlaneAuthentication.ClientHelloSize];
        var relay = Task.Run(async () =>
        {
            // Records what a genuine client sends (hello, proof) while forwarding nothing else.
            await server.ReadExactlyAsync(hello);
            return hello;
        });
        var genuine = DataPlaneAuthentication.AuthenticateAsClientAsync(client, Secret, Within(20));
        await relay;
        // A real server answers in a second connection; the attacker replays the recorded hello there and needs a
        // proof over that server's fresh nonce, which a recorded proof is not.
        var (attacker, server2) = await ConnectAsync();
        var serverSide = DataPlaneAuthentication.AuthenticateAsServerAsync(server2, Secret, Within(20));
        await attacker.WriteAsync(hello);
        var proof = new byte[DataPlaneAuthentication.ServerProofSize];
        await attacker.ReadExactlyAsync(proof);
        // Feed the genuine client this server's proof; its answer is a valid proof for this session only...
        await server.WriteAsync(proof);
        var clientProof = new byte[DataPlaneAuthentication.MacSize];
        await server.ReadExactlyAsync(clientProof);
        // ...and it is rejected by a third session with another server nonce.
        var (attacker3, server3) = await ConnectAsync();
        var thirdSide = DataPlaneAuthentication.AuthenticateAsServerAsync(server3, Secret, Within(20));
        await attacker3.WriteAsync(hello);
        await attacker3.ReadExactlyAsync(new byte[DataPlaneAuthentication.ServerProofSize]);
        await attacker3.WriteAsync(clientProof);
        await Assert.ThrowsAsync<DataPlaneAuthenticationException>(() => thirdSide);
        // The session the proof was made for accepts it (so the refusal above is the nonce's doing).
        await attacker.WriteAsync(clientProof);
        await serverSide;
        server.Close();
        await Assert.ThrowsAsync<DataPlaneAuthenticationException>(() => genuine);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\n\r\n.........")]    // another protocol: bad magic
    [InlineData("UPMA\u0007................................")]   // right magic, unknown version
    public async Task A_server_should_refuse_garbage_without_answering(string garbage)
    {
        var (client, server) = await ConnectAsync();
        var serverSide = DataPlaneAuthentication.AuthenticateAsServerAsync(server, Secret, Within(20));
        await client.WriteAsync(Encoding.Latin1.GetBytes(garbage.PadRight(DataPlaneAuthentication.ClientHelloSize, '.')));
        await Assert.ThrowsAsync<DataPlaneAuthenticationException>(() => serverSide);
        server.Close();
        // Nothing came back: the client reads end-of-stream (0 bytes), never a byte of the server's protocol.
        Assert.Equal(0, await client.ReadAsync(new byte[64]));
    }

    [Fact]
    public async Task A_server_should_refuse_a_truncated_hello()
    {
        var (client, server) = await ConnectAsync();
        var serverSide = DataPlaneAuthentication.AuthenticateAsServerAsync(server, Secret, Within(20));
        await client.WriteAsync("UPMA\u0001abc"u8.ToArray());
        client.Socket.Shutdown(SocketShutdown.Send);
        var error = await Assert.ThrowsAsync<DataPlaneAuthenticationException>(() => serverSide);
        Assert.Contains("closed before the client's hello", error.Message);
    }

    [Fact]
    public async Task A_silent_client_should_be_given_up_on_when_the_handshake_timeout_cancels()
    {
        var (_, server) = await ConnectAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => DataPlaneAuthentication.AuthenticateAsServerAsync(server, Secret, timeout.Token));
    }

    [Fact]
    public async Task A_short_secret_should_be_refused_before_any_byte_is_sent()
    {
        var (client, _) = await ConnectAsync();
        var e = await Assert.ThrowsAsync<ArgumentException>(() => DataPlaneAuthentication.AuthenticateAsClientAsync(client, "short"u8.ToArray(), Within(5)));
        Assert.Contains("at least 16", e.Message);
    }
}
