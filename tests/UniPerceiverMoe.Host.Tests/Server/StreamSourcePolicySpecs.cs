using System.Net;
using System.Net.Http.Json;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Host.Server;
using UniPerceiverMoe.Host.Server.Streams;
using UniPerceiverMoe.Host.Tests.Cli;

namespace UniPerceiverMoe.Host.Tests.Server;

/// <summary>What POST /v1/streams may open, by bind address and upmoe.server.stream-sources.</summary>
public sealed class StreamSourcePolicySpecs
{
    private static StreamSourcePolicy Policy(string bind, string extra = "") =>
        ServerSettings.FromConfig(UpmoeConfig.Parse($"upmoe.server.bind = \"{bind}\"\n{extra}")).StreamSources!;

    private static string Refusal(StreamSourcePolicy policy, string source)
    {
        var e = Assert.Throws<ApiException>(() => policy.Check(source));
        Assert.Equal(403, e.Status);
        return e.Message;
    }

    [Fact]
    public void A_loopback_server_should_keep_opening_any_path_and_private_URL()
    {
        var policy = Policy("127.0.0.1");
        Assert.Equal("/etc/shadow", policy.Check("/etc/shadow"));                  // then "video not found" / decode errors, as before
        Assert.Equal("http://10.0.0.5/cam.mjpg", policy.Check("http://10.0.0.5/cam.mjpg"));
        Assert.Contains("upmoe.server.stream-sources.schemes", Refusal(policy, "gopher://example.com/x"));
    }

    [Fact]
    public void A_server_on_another_bind_should_refuse_local_files_and_private_network_URLs_naming_the_setting()
    {
        var policy = Policy("0.0.0.0");
        Assert.Contains("upmoe.server.stream-sources.local-roots", Refusal(policy, "/etc/shadow"));
        Assert.Contains("upmoe.server.stream-sources.local-roots", Refusal(policy, "file:///etc/shadow"));
        foreach (var url in new[] { "http://127.0.0.1:8080/metrics", "http://10.1.2.3/x", "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data",
                     "http://[::1]/x", "rtsp://172.20.0.4/stream", "http://localhost/x" })
            Assert.Contains("upmoe.server.stream-sources.allow-private-networks", Refusal(policy, url));
        Assert.Equal("https://93.184.216.34/clip.mp4", policy.Check("https://93.184.216.34/clip.mp4"));
    }

    [Fact]
    public void Configured_roots_should_admit_only_paths_under_them_with_symbolic_links_resolved()
    {
        var root = CliHarness.TempDir();
        var outside = CliHarness.TempDir();
        var video = Path.Combine(root, "clip.mp4");
        File.WriteAllText(video, "x");
        File.WriteAllText(Path.Combine(outside, "secret.mp4"), "x");
        Directory.CreateSymbolicLink(Path.Combine(root, "escape"), outside);
        var policy = Policy("0.0.0.0", $"upmoe.server.stream-sources.local-roots = [{UpmoeConfig.Quote(root)}]");
        Assert.Equal(video, policy.Check(video));
        Assert.Equal(video, policy.Check(Path.Combine(root, "sub", "..", "clip.mp4")));
        Assert.Contains("not under upmoe.server.stream-sources.local-roots", Refusal(policy, Path.Combine(root, "escape", "secret.mp4")));
        Assert.Contains("not under", Refusal(policy, Path.Combine(root, "..", Path.GetFileName(outside), "secret.mp4")));
        Assert.Contains("not under", Refusal(policy, root + "-sibling/clip.mp4"));
    }

    [Fact]
    public void Listed_hosts_should_be_the_only_ones_opened_and_may_be_private()
    {
        var policy = Policy("0.0.0.0", "upmoe.server.stream-sources.hosts = [\"10.0.0.7\"]");
        Assert.Equal("rtsp://10.0.0.7/cam", policy.Check("rtsp://10.0.0.7/cam"));
        Assert.Contains("upmoe.server.stream-sources.hosts", Refusal(policy, "https://93.184.216.34/clip.mp4"));
        var open = Policy("0.0.0.0", "upmoe.server.stream-sources.allow-private-networks = on");
        Assert.Equal("http://10.1.2.3/x", open.Check("http://10.1.2.3/x"));
    }

    [Fact]
    public async Task A_refused_source_should_get_403_from_the_API_and_start_no_stream()
    {
        var config = ServerFixture.Config("upmoe.server.stream-sources { local-roots = [], allow-private-networks = off }");
        await using var app = UpmoeServer.Build(config, logging: _ => { });
        await app.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(UpmoeServer.Address(app)), Timeout = ServerFixture.Patience };
        client.DefaultRequestHeaders.Add("X-Api-Key", ServerFixture.ApiKey);
        foreach (var source in new[] { "/etc/shadow", "file:///etc/passwd", "http://127.0.0.1:1/internal" })
        {
            using var response = await client.PostAsJsonAsync("/v1/streams", new { source });
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            var body = await response.Content.ReadAsStringAsync();
            Assert.Contains("upmoe.server.stream-sources", body);
            Assert.Contains("forbidden", body);
        }
        using var list = await client.GetAsync("/v1/streams");
        Assert.Equal("[]", (await list.Content.ReadAsStringAsync()).Trim());
    }

    [Fact]
    public async Task Every_configured_limit_should_be_shown_on_metrics()
    {
        var config = ServerFixture.Config("upmoe.engine.merge-cache = 3MiB\nupmoe.cluster.limits.max-connections = 77");
        await using var app = UpmoeServer.Build(config, logging: _ => { });
        await app.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(UpmoeServer.Address(app)), Timeout = ServerFixture.Patience };
        client.DefaultRequestHeaders.Add("X-Api-Key", ServerFixture.ApiKey);
        var metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("upmoe_limit{name=\"merge_cache_bytes\"} 3145728", metrics);
        Assert.Contains("upmoe_limit{name=\"data_plane_max_connections\"} 77", metrics);
        foreach (var name in new[] { "data_plane_max_connections_per_peer", "data_plane_handshake_timeout_seconds", "data_plane_read_timeout_seconds",
                     "data_plane_idle_timeout_seconds", "passivate_idle_after_seconds", "hedge_max_delay_seconds", "http_max_upload_bytes" })
            Assert.Contains($"upmoe_limit{{name=\"{name}\"}}", metrics);
    }
}
