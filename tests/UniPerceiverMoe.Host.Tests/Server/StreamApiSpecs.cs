using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Xunit.Abstractions;
using static UniPerceiverMoe.Host.Tests.Server.ServerFixture;

namespace UniPerceiverMoe.Host.Tests.Server;

/// <summary>Streams over HTTP: start from a file path, follow the live captions as server-sent events, the latest
/// frame, stop, and the errors of bad stream requests.</summary>
[Collection(ServerCollection.Name)]
public sealed class StreamApiSpecs(ServerFixture server, ITestOutputHelper output)
{
    private Task<HttpResponseMessage> Start(object body) => server.Client.PostAsJsonAsync("/v1/streams", body);

    private async Task<JsonElement> Stream(string id) => await JsonOf(await server.Client.GetAsync($"/v1/streams/{id}"));

    /// <summary>The first <paramref name="count"/> events of type <paramref name="type"/> on the stream's event stream.</summary>
    private async Task<List<JsonElement>> Events(string id, string type, int count)
    {
        using var timeout = new CancellationTokenSource(Patience);
        using var response = await server.Client.GetAsync($"/v1/streams/{id}/events", HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(timeout.Token));
        var found = new List<JsonElement>();
        string? current = null;
        while (found.Count < count && await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal)) current = line[7..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal) && current == type) found.Add(JsonDocument.Parse(line[6..]).RootElement.Clone());
        }
        return found;
    }

    [Fact]
    public async Task A_stream_should_push_captions_live_serve_its_latest_frame_and_stop_on_request()
    {
        string video = TestVideos.Make(server.Dir, "long.mp4", seconds: 20);
        using var started = await Start(new { source = video, id = "live1", realtime = true });
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);
        Assert.Equal("running", (await JsonOf(started)).GetProperty("state").GetString());

        var captions = await Events("live1", "caption", 2);
        output.WriteLine(string.Join("\n", captions));
        Assert.Equal([0L, 1L], captions.Select(c => c.GetProperty("window").GetInt64()));
        Assert.All(captions, c => Assert.False(string.IsNullOrWhiteSpace(c.GetProperty("text").GetString())));

        using var duplicate = await Start(new { source = video, id = "live1" });
        Assert.Equal(HttpStatusCode.Conflict, duplicate.StatusCode);

        using var frame = await server.Client.GetAsync("/v1/streams/live1/frame.png");
        Assert.Equal("image/png", frame.Content.Headers.ContentType?.MediaType);
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47 }, (await frame.Content.ReadAsByteArrayAsync())[..4]);

        using var stop = await server.Client.DeleteAsync("/v1/streams/live1");
        Assert.Equal(HttpStatusCode.Accepted, stop.StatusCode);
        var end = (await Events("live1", "end", 1))[0];      // replays the recent captions, then ends with the stream
        var stats = end.GetProperty("stats");
        output.WriteLine(end.ToString());
        Assert.Equal("stopped", end.GetProperty("state").GetString());
        Assert.Equal(stats.GetProperty("windows_in").GetInt64(),
            stats.GetProperty("captioned").GetInt64() + stats.GetProperty("dropped").GetInt64() + stats.GetProperty("failed").GetInt64());
        Assert.True((await Stream("live1")).GetProperty("captions").GetArrayLength() >= 2);
    }

    [Fact]
    public async Task A_classify_and_watch_stream_should_push_classification_and_alert_events()
    {
        string video = TestVideos.Make(server.Dir, "tasks.mp4", seconds: 3);
        // Threshold -1: every cosine reaches it, so each query's alert starts on the first window.
        using var started = await Start(new { source = video, id = "tasks1", task = "classify,watch", labels = new[] { "a test pattern", "a dog" },
            queries = new[] { "a clock" }, threshold = -1.0 });
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);
        var classified = await Events("tasks1", "classification", 2);
        output.WriteLine(string.Join("\n", classified));
        Assert.Equal([0L, 1L], classified.Select(c => c.GetProperty("window").GetInt64()));
        Assert.All(classified, c => Assert.Equal(2, c.GetProperty("labels").GetArrayLength()));
        Assert.All(classified, c => Assert.Equal("classify", c.GetProperty("task").GetString()));
        Assert.All(classified, c =>
        {
            var scores = c.GetProperty("labels").EnumerateArray().Select(l => l.GetProperty("score").GetDouble()).ToArray();
            Assert.Equal(scores.OrderDescending(), scores);              // best first
            Assert.Equal(1.0, scores.Sum(), 3);                          // a softmax over the label set
        });
        var alert = (await Events("tasks1", "alert", 1))[0];
        output.WriteLine(alert.ToString());
        Assert.Equal("watch", alert.GetProperty("task").GetString());
        Assert.Equal(0L, alert.GetProperty("window").GetInt64());       // -1 is reached by the first window
        Assert.True(alert.GetProperty("end_s").GetDouble() > alert.GetProperty("start_s").GetDouble(), alert.ToString());
        var started0 = Assert.Single(alert.GetProperty("alerts").EnumerateArray());
        Assert.Equal("a clock", started0.GetProperty("query").GetString());
        Assert.Equal("start", started0.GetProperty("event").GetString());
        Assert.InRange(started0.GetProperty("score").GetDouble(), -1.0, 1.0);

        using var bad = await Start(new { source = video, id = "tasks2", task = "classify" });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("labels", (await JsonOf(bad)).ToString());
    }

    [Fact]
    public async Task A_stream_that_cannot_be_decoded_should_end_failed_with_its_reason()
    {
        string corrupt = Path.Combine(server.Dir, "corrupt.mp4");
        await File.WriteAllBytesAsync(corrupt, Enumerable.Range(0, 5000).Select(i => (byte)(i % 13)).ToArray());
        using var started = await Start(new { source = corrupt, id = "broken" });
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);

        await Eventually(async () => (await Stream("broken")).GetProperty("state").GetString() == "failed", "the corrupt stream to fail");
        var error = (await Stream("broken")).GetProperty("error").GetString();
        output.WriteLine(error);
        Assert.Contains(corrupt, error);
    }

    [Theory]
    [InlineData("{\"source\": \"/no/such/video.mp4\"}", HttpStatusCode.UnprocessableEntity, "/no/such/video.mp4: video not found")]
    [InlineData("{\"id\": \"x\"}", HttpStatusCode.BadRequest, "'source' is required")]
    [InlineData("{\"source\": \"rtsp://127.0.0.1:1/x\", \"id\": \"bad id!\"}", HttpStatusCode.BadRequest, "stream id 'bad id!' must be")]
    [InlineData("{\"source\": \"rtsp://127.0.0.1:1/x\", \"fps\": -1}", HttpStatusCode.BadRequest, "'fps' must be in")]
    [InlineData("{\"source\": ", HttpStatusCode.BadRequest, "the JSON body does not parse")]
    public async Task Bad_stream_requests_should_get_a_clear_error(string body, HttpStatusCode status, string says)
    {
        using var response = await server.Client.PostAsync("/v1/streams", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        var json = await JsonOf(response);
        output.WriteLine(json.ToString());
        Assert.Equal(status, response.StatusCode);
        Assert.Contains(says, json.GetProperty("message").GetString());
    }

    [Fact]
    public async Task Unknown_streams_and_non_JSON_bodies_should_be_refused()
    {
        using var get = await server.Client.GetAsync("/v1/streams/ghost");
        using var delete = await server.Client.DeleteAsync("/v1/streams/ghost");
        using var events = await server.Client.GetAsync("/v1/streams/ghost/events");
        using var text = await server.Client.PostAsync("/v1/streams", new StringContent("source=/x.mp4"));

        Assert.Equal([HttpStatusCode.NotFound, HttpStatusCode.NotFound, HttpStatusCode.NotFound], new[] { get, delete, events }.Select(r => r.StatusCode));
        Assert.Equal("no stream 'ghost'", (await JsonOf(get)).GetProperty("message").GetString());
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, text.StatusCode);
    }
}
