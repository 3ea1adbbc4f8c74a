using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Xunit.Abstractions;
using static UniPerceiverMoe.Host.Tests.Server.ServerFixture;

namespace UniPerceiverMoe.Host.Tests.Server;

/// <summary>/metrics in the Prometheus text format, read before and after a stream: the counters move.</summary>
[Collection(ServerCollection.Name)]
public sealed class MetricsSpecs(ServerFixture server, ITestOutputHelper output)
{
    private async Task<string> Scrape()
    {
        using var response = await server.Client.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.ToString());
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>The value of one series (name with its labels exactly as exported), or null when absent.</summary>
    private static double? Value(string metrics, string series)
    {
        var match = Regex.Match(metrics, "^" + Regex.Escape(series) + " (\\S+)$", RegexOptions.Multiline);
        return match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : null;
    }

    [Fact]
    public async Task Counters_should_move_while_a_stream_runs()
    {
        string before = await Scrape();
        using var started = await server.Client.PostAsJsonAsync("/v1/streams", new { source = server.Video, id = "metered" });
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);
        await Eventually(async () => (await JsonOf(await server.Client.GetAsync("/v1/streams/metered"))).GetProperty("state").GetString() == "ended",
            "the stream to end");
        string after = await Scrape();
        foreach (var line in after.Split('\n').Where(l => l.Contains("metered") || l.StartsWith("upmoe_engine_") || l.StartsWith("upmoe_expert_group_requests")))
            output.WriteLine(line);

        Assert.Null(Value(before, "upmoe_stream_windows_captioned_total{stream=\"metered\"}"));
        Assert.Equal(3, Value(after, "upmoe_stream_windows_captioned_total{stream=\"metered\"}"));   // 3 s at hop 1 s
        Assert.Equal(3, Value(after, "upmoe_stream_windows_in_total{stream=\"metered\"}"));
        Assert.Equal(0, Value(after, "upmoe_stream_windows_dropped_total{stream=\"metered\"}"));
        Assert.Equal(0, Value(after, "upmoe_stream_windows_failed_total{stream=\"metered\"}"));
        Assert.Equal(3, Value(after, "upmoe_stream_caption_latency_seconds_count{stream=\"metered\"}"));
        Assert.Equal(0, Value(after, "upmoe_stream_buffered_windows{stream=\"metered\"}"));
        foreach (var moving in new[] { "upmoe_engine_requests_completed_total", "upmoe_engine_expert_requests_total",
                     "upmoe_stage_duration_seconds_count{stage=\"stream_batch\"}", "upmoe_expert_group_requests_total{group=\"g0\"}" })
            Assert.True(Value(after, moving) > (Value(before, moving) ?? 0), $"{moving} did not grow: {Value(before, moving)} -> {Value(after, moving)}");
        Assert.Equal(1, Value(after, "upmoe_engine_ready"));
        Assert.Equal(0, Value(after, "upmoe_cluster_members"));
        Assert.Equal(1, Value(after, "upmoe_expert_group_up{group=\"g0\"}"));
        Assert.Equal(1, Value(after, "upmoe_expert_group_device{group=\"g0\",device=\"cpu\"}"));   // upmoe.placement.devices
        Assert.True(Value(after, "upmoe_http_requests_total{route=\"/v1/streams\",method=\"POST\",status=\"201\"}") >= 1);
    }
}
