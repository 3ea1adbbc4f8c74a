using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;
using static UniPerceiverMoe.Host.Tests.Server.ServerFixture;

namespace UniPerceiverMoe.Host.Tests.Server;

/// <summary>The live caption page in headless Chromium: a running stream's captions appear in the DOM (they reach
/// the page only through its event stream), and a screenshot is kept as a CI artifact.</summary>
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

    [GeneratedRegex("<li class=\"caption\" data-window=\"\\d+\"><span class=\"time\">[^<]*</span><span class=\"text\">(?<text>[^<]+)</span>")]
    private static partial Regex CaptionItem();

    [GeneratedRegex("id=\"c-captioned\">[1-9]")]
    private static partial Regex CaptionedCounter();
}
