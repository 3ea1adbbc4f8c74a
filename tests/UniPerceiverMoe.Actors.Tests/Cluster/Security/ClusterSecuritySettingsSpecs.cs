using Akka.Configuration;
using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Actors.Cluster.Security;
using UniPerceiverMoe.Actors.Settings;

namespace UniPerceiverMoe.Actors.Tests.Cluster.Security;

public sealed class ClusterSecuritySettingsSpecs
{
    private static Config With(string hocon) => UpmoeConfig.Parse(hocon);
    private static string? NoEnvironment(string _) => null;

    [Fact]
    public void A_node_on_a_public_address_without_TLS_or_secret_should_refuse_to_start_naming_the_settings()
    {
        var e = Assert.Throws<ConfigurationException>(() => ClusterSettings.FromConfig(With("akka.remote.dot-netty.tcp.hostname = 10.1.2.3")));
        foreach (var setting in new[] { "10.1.2.3", "akka.remote.dot-netty.tcp.enable-ssl", "upmoe.cluster.secret", "UPMOE_CLUSTER_SECRET", "upmoe.cluster.insecure = on" })
            Assert.Contains(setting, e.Message);
        Assert.Throws<ConfigurationException>(() => ClusterSecuritySettings.FromConfig(With("akka.remote.dot-netty.tcp.hostname = 0.0.0.0"), NoEnvironment).EnsureStartable());
    }

    [Theory]
    [InlineData("akka.remote.dot-netty.tcp.hostname = 127.0.0.1")]
    [InlineData("akka.remote.dot-netty.tcp.hostname = localhost")]
    [InlineData("akka.remote.dot-netty.tcp.hostname = \"::1\"")]
    [InlineData("akka.remote.dot-netty.tcp.hostname = 10.1.2.3\nupmoe.cluster.insecure = on")]
    [InlineData("akka.remote.dot-netty.tcp.hostname = 10.1.2.3\nupmoe.cluster.secret = \"0123456789abcdef0123\"")]
    [InlineData("akka.remote.dot-netty.tcp.hostname = 10.1.2.3\nakka.remote.dot-netty.tcp.enable-ssl = on\nakka.remote.dot-netty.tcp.ssl.certificate.path = /etc/upmoe/node.pfx")]
    public void Loopback_an_explicit_insecure_a_secret_or_TLS_should_let_a_node_start(string hocon)
    {
        var s = ClusterSecuritySettings.FromConfig(With(hocon), NoEnvironment);
        Assert.Same(s, s.EnsureStartable());
    }

    [Fact]
    public void The_secret_should_come_from_the_environment_when_the_setting_is_empty_and_be_long_enough()
    {
        var fromEnv = ClusterSecuritySettings.FromConfig(With("akka.remote.dot-netty.tcp.hostname = 10.1.2.3"),
            name => name == "UPMOE_CLUSTER_SECRET" ? "0123456789abcdef-env" : null);
        Assert.Equal("0123456789abcdef-env"u8.ToArray(), fromEnv.Secret);
        fromEnv.EnsureStartable();
        Assert.Contains("Akka.Remote", fromEnv.Warning);
        var e = Assert.Throws<ConfigurationException>(() => ClusterSecuritySettings.FromConfig(With("upmoe.cluster.secret = short"), NoEnvironment));
        Assert.Contains("upmoe.cluster.secret", e.Message);
        Assert.Contains("at least 16", e.Message);
    }

    [Fact]
    public void TLS_without_a_certificate_path_should_be_refused()
    {
        var e = Assert.Throws<ConfigurationException>(() => ClusterSecuritySettings.FromConfig(With("akka.remote.dot-netty.tcp.enable-ssl = on"), NoEnvironment));
        Assert.Contains("ssl.certificate.path", e.Message);
    }

    [Fact]
    public void The_certificate_should_load_from_the_Akka_Remote_TLS_settings()
    {
        using var cert = TestCertificates.SelfSigned("upmoe-cluster");
        var path = TestCertificates.WritePfx(cert, "pw");
        try
        {
            var s = ClusterSecuritySettings.FromConfig(With($"""
                akka.remote.dot-netty.tcp.enable-ssl = on
                akka.remote.dot-netty.tcp.ssl.certificate {"{"} path = "{path}", password = pw {"}"}
                upmoe.cluster.tls.trusted-thumbprints = ["aa:bb:cc"]
                """), NoEnvironment);
            using var loaded = s.LoadCertificate();
            Assert.Equal(cert.Thumbprint, loaded.Thumbprint);
            Assert.True(loaded.HasPrivateKey);
            Assert.Equal(["AABBCC"], s.TrustedThumbprints!);
            var wrong = s with { CertificatePassword = "nope" };
            Assert.Contains(path, Assert.Throws<ConfigurationException>(() => wrong.LoadCertificate()).Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Every_limit_should_have_its_default_in_reference_conf_and_be_validated()
    {
        var limits = ClusterLimits.FromConfig(UpmoeConfig.Reference);
        Assert.Equal(256, limits.MaxConnections);
        Assert.Equal(64, limits.MaxConnectionsPerPeer);   // a frontend opens one connection per expert group on a node
        Assert.Equal(TimeSpan.FromSeconds(5), limits.HandshakeTimeout);
        Assert.Equal(2L << 30, limits.MergeCacheBytes);
        Assert.Equal(TimeSpan.FromMinutes(30), limits.PassivateIdleAfter);
        Assert.Equal(7, limits.Snapshot().Count);
        Assert.Null(ClusterLimits.FromConfig(With("akka.cluster.sharding.passivate-idle-entity-after = off")).PassivateIdleAfter);
        var e = Assert.Throws<ConfigurationException>(() => ClusterLimits.FromConfig(With("upmoe.cluster.limits.max-connections-per-peer = 1000")));
        Assert.Contains("max-connections-per-peer", e.Message);
    }
}
