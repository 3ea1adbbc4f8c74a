using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Cluster;
using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Actors.Cluster.Security;
using UniPerceiverMoe.Actors.Settings;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>Akka.Remote TLS with mutual authentication: the cluster's certificate is what lets a node join.</summary>
public sealed class RemoteTlsSpecs : IDisposable
{
    private readonly List<string> files = [];

    public void Dispose()
    {
        foreach (var f in files) File.Delete(f);
    }

    /// <summary>A self-signed certificate with its key, made now (never committed), written as a .pfx.</summary>
    private string Pfx(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var path = Path.Combine(Path.GetTempPath(), $"upmoe-tls-{name}-{Guid.NewGuid():N}.pfx");
        File.WriteAllBytes(path, cert.Export(X509ContentType.Pkcs12, "pw"));
        files.Add(path);
        return path;
    }

    private static string Tls(string pfx) => $$"""
        akka.remote.dot-netty.tcp.enable-ssl = on
        akka.remote.dot-netty.tcp.ssl {
          certificate { path = {{UpmoeConfig.Quote(pfx)}}, password = pw }
          suppress-validation = off
          require-mutual-authentication = on
          validate-certificate-hostname = off
        }
        """;

    [Fact]
    public async Task Nodes_with_the_cluster_certificate_should_join_and_a_node_without_it_should_not()
    {
        var cluster = Pfx("upmoe-cluster");
        await using var a = ExpertNode.Start(TestCluster.Config("experts", "per-layer", Tls(cluster)));
        a.Cluster.JoinSeedNodes([a.Address]);
        await a.WhenUp().WaitAsync(TimeSpan.FromSeconds(30));
        await using var b = TestCluster.StartExpert(a.Address, "per-layer", Tls(cluster));
        await b.WhenUp().WaitAsync(TimeSpan.FromSeconds(60));

        long refusedBefore = RemoteTls.Refusals.Value;
        await using var stranger = TestCluster.StartExpert(a.Address, "per-layer", Tls(Pfx("stranger")));
        // The stranger's join attempt reaches the TLS handshake and is refused there (by either side's check).
        await TestCluster.AwaitAsync(() => RemoteTls.Refusals.Value > refusedBefore, TimeSpan.FromSeconds(60), "a refused TLS handshake");
        // A later, legitimate node still joins while the stranger keeps trying: membership is exactly a and b and c.
        await using var c = TestCluster.StartExpert(a.Address, "per-layer", Tls(cluster));
        await c.WhenUp().WaitAsync(TimeSpan.FromSeconds(60));
        var members = a.Cluster.State.Members.Select(m => m.Address).ToHashSet();
        Assert.Equal(new[] { a.Address, b.Address, c.Address }.ToHashSet(), members);
        Assert.NotEqual(MemberStatus.Up, stranger.Cluster.SelfMember.Status);
        Assert.DoesNotContain(stranger.Address, members);
    }

    [Fact]
    public void A_node_with_TLS_on_and_no_certificate_file_should_fail_to_start_naming_the_setting()
    {
        var e = Assert.ThrowsAny<Exception>(() => ExpertNode.Start(TestCluster.Config("experts", "per-layer",
            "akka.remote.dot-netty.tcp.enable-ssl = on\nakka.remote.dot-netty.tcp.ssl.certificate.path = \"/nonexistent/node.pfx\"")));
        Assert.Contains("akka.remote.dot-netty.tcp.ssl.certificate.path", e.Message);
    }
}
