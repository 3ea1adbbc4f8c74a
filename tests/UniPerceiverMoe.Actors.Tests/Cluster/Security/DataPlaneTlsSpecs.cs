using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using UniPerceiverMoe.Actors.Cluster.Security;

namespace UniPerceiverMoe.Actors.Tests.Cluster.Security;

/// <summary>Mutual TLS of the data plane over loopback TCP with certificates made at test time.</summary>
public sealed class DataPlaneTlsSpecs : IDisposable
{
    private readonly LoopbackStreams loopback = new();

    public void Dispose() => loopback.Dispose();

    private Task<(NetworkStream Client, NetworkStream Server)> ConnectAsync() => loopback.ConnectAsync();

    private static CancellationToken Within(int seconds) => LoopbackStreams.Within(seconds);

    [Fact]
    public async Task Nodes_sharing_the_cluster_certificate_should_authenticate_each_other()
    {
        using var cluster = TestCertificates.SelfSigned("upmoe-cluster");
        var (client, server) = await ConnectAsync();
        var tls = new DataPlaneTls(cluster, []);
        var results = await Task.WhenAll(
            tls.AuthenticateAsClientAsync(client, "127.0.0.1", Within(20)),
            tls.AuthenticateAsServerAsync(server, Within(20)));
        foreach (var ssl in results) loopback.Own(ssl);
        Assert.True(results[1].IsMutuallyAuthenticated);
        Assert.Equal(cluster.Thumbprint, new X509Certificate2(results[1].RemoteCertificate!).Thumbprint);
        await results[0].WriteAsync("ok"u8.ToArray());
        var read = new byte[2];
        await results[1].ReadExactlyAsync(read);
        Assert.Equal("ok"u8.ToArray(), read);
    }

    [Fact]
    public async Task A_client_with_another_certificate_should_be_refused()
    {
        using var cluster = TestCertificates.SelfSigned("upmoe-cluster");
        using var stranger = TestCertificates.SelfSigned("stranger");
        var (client, server) = await ConnectAsync();
        // The stranger trusts the cluster's certificate (so its own check passes); the server must still refuse it.
        var clientSide = new DataPlaneTls(stranger, [cluster.Thumbprint]).AuthenticateAsClientAsync(client, "127.0.0.1", Within(20));
        var error = await Assert.ThrowsAsync<DataPlaneAuthenticationException>(() => new DataPlaneTls(cluster, []).AuthenticateAsServerAsync(server, Within(20)));
        Assert.Contains("neither pinned nor chain-valid", error.Message);
        await FailsOnUse(clientSide);
    }

    [Fact]
    public async Task A_client_should_refuse_a_server_without_the_cluster_certificate()
    {
        using var cluster = TestCertificates.SelfSigned("upmoe-cluster");
        using var impostor = TestCertificates.SelfSigned("impostor");
        var (client, server) = await ConnectAsync();
        var serverSide = new DataPlaneTls(impostor, [cluster.Thumbprint]).AuthenticateAsServerAsync(server, Within(20));
        var error = await Assert.ThrowsAsync<DataPlaneAuthenticationException>(
            () => new DataPlaneTls(cluster, []).AuthenticateAsClientAsync(client, "127.0.0.1", Within(20)));
        Assert.Contains("neither pinned nor chain-valid", error.Message);
        await FailsOnUse(serverSide);
    }

    /// <summary>The refused peer's side fails: in its handshake, or (TLS 1.3 may finish one side before the other's
    /// verdict arrives) on first use, as a reset or a closed stream.</summary>
    private async Task FailsOnUse(Task<System.Net.Security.SslStream> side)
    {
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            var ssl = await side;
            loopback.Own(ssl);
            await ssl.WriteAsync(new byte[1]);
            if (await ssl.ReadAsync(new byte[1]) == 0) throw new IOException("closed by the peer");
        });
    }

    [Fact]
    public async Task A_pinned_thumbprint_should_admit_a_second_certificate()
    {
        using var cluster = TestCertificates.SelfSigned("upmoe-cluster");
        using var rotated = TestCertificates.SelfSigned("upmoe-cluster-next");
        var (client, server) = await ConnectAsync();
        var results = await Task.WhenAll(
            new DataPlaneTls(rotated, [cluster.Thumbprint]).AuthenticateAsClientAsync(client, "127.0.0.1", Within(20)),
            new DataPlaneTls(cluster, [rotated.Thumbprint]).AuthenticateAsServerAsync(server, Within(20)));
        foreach (var ssl in results) loopback.Own(ssl);
        Assert.True(results[1].IsMutuallyAuthenticated);
    }
}
