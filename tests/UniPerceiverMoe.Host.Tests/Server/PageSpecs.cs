using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;
using static UniPerceiverMoe.Host.Tests.Server.ServerFixture;

namespace UniPerceiverMoe.Host.Tests.Server;

/// <summary>The live stream page in headless Chromium: a running stream's captions, top labels and alerts appear in the
/// DOM (they reach the page only through its event stream), and a screenshot is kept as a CI artifact.</summary>
[Collection(ServerCollection.Name)]
public sealed partial class PageSpecs(ServerFixture server, ITestOutputHelper output)
{
    public static readonly string Screenshot = Path.Combine(GoldenFixture.RepoRoot, "artifacts", "page", "live-captions.png");

    [Fact]
    public async Task The_page_should_show_a_running_streams_captions_as_they_arrive()
    {
        string video = TestVideos.Make(server.Dir, "page.mp4", seconds: 20);
        using var started = await server.Client.PostAsJsonAsync("/v1/streams", new { source = video, id = "page1", realtime = true });
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);
        string url = $"{server.Address}/?stream=page1&key={ApiKey}";

        string dom = "";
        var clock = Stopwatch.StartNew();
        // Captions arrive as events, the counters once a second: wait until the page shows both.
        while (!CaptionItem().IsMatch(dom) || !CaptionedCounter().IsMatch(dom))
        {
            Assert.True(clock.Elapsed < Patience, $"no caption and captioned counter in the page's DOM after {Patience}:\n{dom}");
            dom = await Chromium.DumpDomAsync(url);
        }
        var shown = CaptionItem().Matches(dom).Select(m => WebUtility.HtmlDecode(m.Groups["text"].Value)).ToArray();
        output.WriteLine(string.Join("\n", shown));
        var state = await JsonOf(await server.Client.GetAsync("/v1/streams/page1"));
        var sent = state.GetProperty("captions").EnumerateArray().Select(c => c.GetProperty("text").GetString()).ToArray();
        Assert.All(shown, text => Assert.Contains(text, sent));
        Assert.Matches("id=\"stream-state\">running<", dom);

        Directory.CreateDirectory(Path.GetDirectoryName(Screenshot)!);
        File.Delete(Screenshot);
        await Chromium.ScreenshotAsync(url, Screenshot);
        output.WriteLine($"screenshot: {Screenshot}");
        var png = await File.ReadAllBytesAsync(Screenshot);
        Assert.True(png.Length > 10_000 && png[1] == (byte)'P' && png[2] == (byte)'N' && png[3] == (byte)'G', $"{Screenshot} is not a PNG screenshot");

        using var stop = await server.Client.DeleteAsync("/v1/streams/page1");
        Assert.Equal(HttpStatusCode.Accepted, stop.StatusCode);
    }

    [Fact]
    public async Task The_page_should_show_a_classify_and_watch_streams_top_labels_and_alert_log()
    {
        string video = TestVideos.Make(server.Dir, "page-tasks.mp4", seconds: 20);
        string[] labels = ["a test pattern", "a dog", "a red car"];
        // Threshold -1: every cosine reaches it, so the query's alert starts on the first window (and never stops).
        using var started = await server.Client.PostAsJsonAsync("/v1/streams", new
        {
            source = video, id = "page2", realtime = true, task = "classify,watch", labels, queries = new[] { "a clock" }, threshold = -1.0,
        });
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);
        string url = $"{server.Address}/?stream=page2&key={ApiKey}";

        string dom = "";
        var clock = Stopwatch.StartNew();
        while (!LabelItem().IsMatch(dom) || !AlertItem().IsMatch(dom))
        {
            Assert.True(clock.Elapsed < Patience, $"no top labels and alert log in the page's DOM after {Patience}:\n{dom}");
            dom = await Chromium.DumpDomAsync(url);
        }
        var shown = LabelItem().Matches(dom).Select(m => WebUtility.HtmlDecode(m.Groups["label"].Value)).ToArray();
        output.WriteLine("labels: " + string.Join(", ", shown));
        Assert.Equal(labels.Order(), shown.Order());                   // all three (fewer than the page's five), each once
        var alert = AlertItem().Match(dom);
        output.WriteLine($"alert: {alert.Value}");
        Assert.Equal("a clock", WebUtility.HtmlDecode(alert.Groups["query"].Value));
        Assert.Equal("0", alert.Groups["window"].Value);
        Assert.Matches("id=\"alerts-active\">active: a clock<", dom);

        using var stop = await server.Client.DeleteAsync("/v1/streams/page2");
        Assert.Equal(HttpStatusCode.Accepted, stop.StatusCode);
    }

    [GeneratedRegex("<li class=\"label\"><span class=\"name\">(?<label>[^<]+)</span><meter[^>]*></meter><span class=\"score\">[01]\\.\\d{3}</span>")]
    private static partial Regex LabelItem();

    [GeneratedRegex("<li class=\"alert start\" data-window=\"(?<window>\\d+)\"><span class=\"time\">[^<]+</span><span class=\"event\">started</span><span class=\"query\">(?<query>[^<]+)</span><span class=\"score\">-?\\d\\.\\d{3}</span>")]
    private static partial Regex AlertItem();

    [GeneratedRegex("<li class=\"caption\" data-window=\"\\d+\"><span class=\"time\">[^<]*</span><span class=\"text\">(?<text>[^<]+)</span>")]
    private static partial Regex CaptionItem();

    [GeneratedRegex("id=\"c-captioned\">[1-9]")]
    private static partial Regex CaptionedCounter();
}
