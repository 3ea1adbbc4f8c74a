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

    private const string ConfigDiscovery = """
        akka.remote.dot-netty.tcp.port = 4100
        upmoe.cluster.discovery { method = config, endpoints = ["127.0.0.1:4100", "127.0.0.1:4101"] }
        """;

    [Fact]
    public void Config_discovery_should_become_akka_discovery_settings_and_seeds_should_leave_the_config_alone()
    {
        var reference = UpmoeConfig.Parse("");
        Assert.Equal(DiscoveryMethod.Seeds, DiscoverySettings.FromConfig(reference).Method);
        Assert.Same(reference, ClusterFormation.Prepare(reference));

        var prepared = ClusterFormation.Prepare(UpmoeConfig.Parse(ConfigDiscovery));
        Assert.Equal("config", prepared.GetString("akka.discovery.method"));
        Assert.Equal(["127.0.0.1:4100", "127.0.0.1:4101"], prepared.GetStringList("akka.discovery.config.services.upmoe.endpoints"));
        // An explicit akka.discovery key in the node's own settings wins over the derived one.
        var own = ClusterFormation.Prepare(UpmoeConfig.Parse(ConfigDiscovery + "\nakka.discovery.config.services.upmoe.endpoints = [\"10.0.0.1:4053\"]"));
        Assert.Equal(["10.0.0.1:4053"], own.GetStringList("akka.discovery.config.services.upmoe.endpoints"));

        var kubernetes = ClusterFormation.Prepare(UpmoeConfig.Parse("akka.remote.dot-netty.tcp.port = 4053\nupmoe.cluster.discovery.method = kubernetes"));
        Assert.Equal("kubernetes-api", kubernetes.GetString("akka.discovery.method"));
        Assert.Equal("app={0}", kubernetes.GetString("akka.discovery.kubernetes-api.pod-label-selector"));
        Assert.StartsWith("Akka.Discovery.KubernetesApi.", kubernetes.GetString("akka.discovery.kubernetes-api.class"));
    }

    [Theory]
    [InlineData("upmoe.cluster.discovery.method = dns", "expected seeds, config or kubernetes")]
    [InlineData("akka.cluster.seed-nodes = [\"akka.tcp://upmoe@127.0.0.1:4053\"]", "akka.cluster.seed-nodes must be empty")]
    [InlineData("akka.remote.dot-netty.tcp.port = 0", "port must be fixed")]
    [InlineData("upmoe.cluster.discovery.endpoints = [\"127.0.0.1\", \"127.0.0.1:4101\"]", "endpoint '127.0.0.1' is not")]
    [InlineData("upmoe.cluster.discovery.required-contact-points = 3", "fewer than required-contact-points")]
    [InlineData("upmoe.cluster.discovery.service-name = \"\"", "service-name is empty")]
    public void Invalid_discovery_settings_should_fail_naming_the_setting(string hocon, string message)
    {
        var e = Assert.Throws<ConfigurationException>(() => DiscoverySettings.FromConfig(UpmoeConfig.Parse(ConfigDiscovery + "\n" + hocon)));
        Assert.Contains(message, e.Message);
    }
}
