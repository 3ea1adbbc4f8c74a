using Akka.Configuration;
using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Actors.Serialization;
using UniPerceiverMoe.Actors.Settings;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>Role files over reference.conf, typed cluster settings and their validation.</summary>
public sealed class ClusterConfigSpecs
{
    [Fact]
    public void Reference_conf_should_give_valid_cluster_settings_bound_to_loopback()
    {
        var settings = ClusterSettings.FromConfig(UpmoeConfig.Reference);
        Assert.Equal(("experts", "frontend", WireDtype.Float32), (settings.ExpertRole, settings.FrontendRole, settings.WireDtype));
        Assert.Equal(16L * 1024 * 1024 - 64 * 1024, settings.MaxPayloadBytes);
        Assert.Equal("127.0.0.1", UpmoeConfig.Reference.GetString("akka.remote.dot-netty.tcp.hostname"));
        Assert.False(UpmoeConfig.Reference.GetBoolean("akka.remote.dot-netty.tcp.enable-ssl"));
        Assert.Equal("keep-majority", UpmoeConfig.Reference.GetString("akka.cluster.split-brain-resolver.active-strategy"));
    }

    [Theory]
    [InlineData("frontend", "frontend", "cluster")]
    [InlineData("experts", "experts", "cluster")]
    [InlineData("embedded", null, "local")]
    public void Role_files_should_select_the_provider_and_roles(string file, string? role, string provider)
    {
        var config = NodeConfig.Load([TestCluster.HoconFile(file + ".conf")]);
        Assert.Equal(provider, config.GetString("akka.actor.provider"));
        if (role is not null) Assert.Equal([role], config.GetStringList("akka.cluster.roles"));
        // Role files only override: everything else still comes from reference.conf.
        Assert.Equal(UpmoeConfig.Reference.GetString("upmoe.cluster.wire-dtype"), config.GetString("upmoe.cluster.wire-dtype"));
        ClusterSettings.FromConfig(config);
    }

    [Fact]
    public void The_data_plane_should_be_on_by_default_advertise_the_public_hostname_and_stay_on_under_TLS_with_its_certificate()
    {
        var defaults = ClusterSettings.FromConfig(UpmoeConfig.Reference);
        Assert.True(defaults.DataPlane);
        Assert.Equal(("127.0.0.1", "127.0.0.1", 0), (defaults.Hostname, defaults.PublicHostname, defaults.DataPlanePort));
        var nat = ClusterSettings.FromConfig(UpmoeConfig.Parse(
            "akka.remote.dot-netty.tcp.hostname = 0.0.0.0\nakka.remote.dot-netty.tcp.public-hostname = node7.example\nupmoe.cluster.data-plane.port = 4070\n" +
            "upmoe.cluster.insecure = on"));
        Assert.Equal(("0.0.0.0", "node7.example", 4070), (nat.Hostname, nat.PublicHostname, nat.DataPlanePort));
        // Under TLS the data plane authenticates with the remoting certificate instead of switching itself off.
        var tls = ClusterSettings.FromConfig(UpmoeConfig.Parse("akka.remote.dot-netty.tcp.enable-ssl = true\nakka.remote.dot-netty.tcp.ssl.certificate.path = /etc/upmoe/node.pfx"));
        Assert.True(tls.DataPlane);
        Assert.True(tls.Security!.Tls);
        Assert.False(ClusterSettings.FromConfig(UpmoeConfig.Parse("upmoe.cluster.data-plane.enabled = off")).DataPlane);
    }

    [Fact]
    public void Inline_settings_should_override_files_and_later_files_earlier_ones()
    {
        var config = NodeConfig.Load([TestCluster.HoconFile("experts.conf"), TestCluster.HoconFile("loopback.conf")], ["upmoe.cluster.wire-dtype = bfloat16"]);
        var settings = ClusterSettings.FromConfig(config);
        Assert.Equal(WireDtype.BFloat16, settings.WireDtype);
        Assert.Equal(TimeSpan.FromSeconds(1), settings.AttemptTimeout);
    }

    [Theory]
    [InlineData("upmoe.cluster.wire-dtype = float64", "wire-dtype")]
    [InlineData("upmoe.cluster.shards = 0", "shards")]
    [InlineData("akka.remote.dot-netty.tcp.maximum-frame-size = 100KiB", "maximum-frame-size")]
    [InlineData("upmoe.cluster.retry-backoff-max = 10ms", "retry-backoff")]
    public void Invalid_cluster_settings_should_fail_naming_the_key(string hocon, string key)
    {
        var e = Assert.Throws<ConfigurationException>(() => ClusterSettings.FromConfig(UpmoeConfig.Parse(hocon)));
        Assert.Contains(key, e.Message);
    }

    [Fact]
    public void A_missing_config_file_should_be_named()
    {
        var e = Assert.Throws<FileNotFoundException>(() => NodeConfig.Load(["/nonexistent/experts.conf"]));
        Assert.Contains("/nonexistent/experts.conf", e.Message);
    }

    [Fact]
    public void An_expert_node_should_refuse_a_config_without_the_cluster_provider()
    {
        var e = Assert.Throws<ConfigurationException>(() => ExpertNode.Start(
            UpmoeConfig.Parse(TestCluster.Common("single")), new ExpertNodeOptions { Plan = Actors.Placement.PlacementPlanner.Single(Model.UniPerceiverConfig.Tiny) }));
        Assert.Contains("akka.actor.provider = cluster", e.Message);
    }
}
