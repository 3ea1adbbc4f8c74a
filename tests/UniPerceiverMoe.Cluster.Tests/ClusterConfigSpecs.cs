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
        var config = UpmoeConfig.Load([TestCluster.HoconFile(file + ".conf")]);
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
        var config = UpmoeConfig.Load([TestCluster.HoconFile("experts.conf"), TestCluster.HoconFile("loopback.conf")], ["upmoe.cluster.wire-dtype = bfloat16"]);
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
        var e = Assert.Throws<FileNotFoundException>(() => UpmoeConfig.Load(["/nonexistent/experts.conf"]));
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

        // Kubernetes discovery reads the API itself (KubernetesPods): nothing to derive.
        var kubernetes = UpmoeConfig.Parse("akka.remote.dot-netty.tcp.port = 4053\nupmoe.cluster.discovery.method = kubernetes");
        Assert.Same(kubernetes, ClusterFormation.Prepare(kubernetes));
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

    [Fact]
    public void The_deploy_config_should_select_kubernetes_discovery_with_no_seed_list()
    {
        var config = ClusterFormation.Prepare(UpmoeConfig.Load(
            [TestCluster.HoconFile("experts.conf"), Path.Combine(TestSupport.GoldenFixture.RepoRoot, "deploy", "cluster.conf")]));
        var discovery = DiscoverySettings.FromConfig(config);
        Assert.Equal(DiscoveryMethod.Kubernetes, discovery.Method);
        Assert.Equal("app={0}", discovery.KubernetesLabelSelector);
        Assert.Equal("remoting", discovery.KubernetesPortName);
        Assert.Empty(config.GetStringList("akka.cluster.seed-nodes"));
        // Every section of the file arrives (the environment substitutions at its end drop nothing).
        Assert.True(config.GetBoolean("akka.remote.dot-netty.tcp.enable-ssl"));
        Assert.Equal("/models/uni-perceiver-moe-b.pth", config.GetString("upmoe.engine.checkpoint"));
        Assert.Equal(2, config.GetInt("upmoe.placement.replicas"));
    }

    [Fact]
    public async Task Kubernetes_discovery_should_list_running_pods_of_the_selector_with_their_remoting_port()
    {
        // A stand-in for the API server on loopback: one pod list, as the Kubernetes API answers it.
        using var listener = new System.Net.HttpListener();
        int port = 0;
        for (int attempt = 0; ; attempt++)
        {
            port = System.Random.Shared.Next(20000, 60000);
            listener.Prefixes.Clear();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try { listener.Start(); break; }
            catch (System.Net.HttpListenerException) when (attempt < 10) { }
        }
        string? query = null;
        var served = Task.Run(async () =>
        {
            var context = await listener.GetContextAsync();
            query = context.Request.Url!.PathAndQuery;
            var body = System.Text.Encoding.UTF8.GetBytes("""
                {"kind":"PodList","apiVersion":"v1","metadata":{},"items":[
                 {"metadata":{"name":"a"},"spec":{"containers":[{"name":"upmoe","ports":[{"name":"remoting","containerPort":4053},{"name":"http","containerPort":8080}]}]},"status":{"phase":"Running","podIP":"10.1.0.7"}},
                 {"metadata":{"name":"b"},"spec":{"containers":[{"name":"upmoe"}]},"status":{"phase":"Running","podIP":"10.1.0.9"}},
                 {"metadata":{"name":"c"},"spec":{"containers":[{"name":"upmoe"}]},"status":{"phase":"Pending"}},
                 {"metadata":{"name":"d","deletionTimestamp":"2026-01-01T00:00:00Z"},"spec":{"containers":[{"name":"upmoe"}]},"status":{"phase":"Running","podIP":"10.1.0.3"}}]}
                """);
            context.Response.ContentType = "application/json";
            await context.Response.OutputStream.WriteAsync(body);
            context.Response.Close();
        });
        using var pods = new KubernetesPods($"http://127.0.0.1:{port}", "upmoe", "app=upmoe", "remoting");
        var found = await pods.LookupAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        await served;
        Assert.StartsWith("/api/v1/namespaces/upmoe/pods?labelSelector=app%3Dupmoe", query);
        Assert.Equal([("10.1.0.7", (int?)4053), ("10.1.0.9", (int?)null)], found);
    }
}
