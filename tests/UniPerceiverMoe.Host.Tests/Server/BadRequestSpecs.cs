using System.Net;
using System.Net.Http.Json;
using System.Text;
using Xunit.Abstractions;
using static UniPerceiverMoe.Host.Tests.Server.ServerFixture;

namespace UniPerceiverMoe.Host.Tests.Server;

/// <summary>Bad requests get a 4xx JSON error naming the input and the reason (never a stack trace), and the server
/// keeps serving.</summary>
[Collection(ServerCollection.Name)]
public sealed class BadRequestSpecs(ServerFixture server, ITestOutputHelper output)
{
    private static readonly byte[] Noise = Enumerable.Range(0, 4000).Select(i => (byte)(i * 7919 % 251)).ToArray();

    private static readonly Dictionary<string, (Func<ServerFixture, HttpRequestMessage> Request, HttpStatusCode Status, string Says)> Cases = new()
    {
        ["text upload"] = (s => Post("/v1/caption", Multipart.Form().WithFile("hello"u8.ToArray(), "notes.txt", "text/plain")),
            HttpStatusCode.UnsupportedMediaType, "upload 'notes.txt': content type text/plain is not supported"),
        ["gif upload"] = (s => Post("/v1/caption", Multipart.Form().WithFile("GIF89a"u8.ToArray(), "anim.gif", "image/gif")),
            HttpStatusCode.UnsupportedMediaType, "image/gif is not supported"),
        ["JSON instead of a form"] = (s => Post("/v1/caption", JsonContent.Create(new { file = "x" })),
            HttpStatusCode.UnsupportedMediaType, "expected a multipart/form-data upload"),
        ["url-encoded form for an upload"] = (s => Post("/v1/classify", new FormUrlEncodedContent([new("labels", "a,b")])),
            HttpStatusCode.UnsupportedMediaType, "expected a multipart/form-data upload"),
        ["PNG that is not one"] = (s => Post("/v1/caption", Multipart.Form().WithFile(Noise, "photo.png", "image/png")),
            HttpStatusCode.UnprocessableEntity, "upload 'photo.png': is declared image/png but is not a PNG or JPEG image"),
        ["truncated PNG"] = (s => Post("/v1/caption", Multipart.Form().WithFile(File.ReadAllBytes(s.Image)[..200], "cut.png", "image/png")),
            HttpStatusCode.UnprocessableEntity, "upload 'cut.png'"),
        ["corrupt video"] = (s => Post("/v1/caption", Multipart.Form().WithFile(Noise, "noise.mp4", "video/mp4")),
            HttpStatusCode.UnprocessableEntity, "upload 'noise.mp4'"),
        ["empty file"] = (s => Post("/v1/caption", Multipart.Form().WithFile([], "empty.png", "image/png")),
            HttpStatusCode.UnprocessableEntity, "upload 'empty.png': the file is empty (0 bytes)"),
        ["upload over the limit"] = (s => Post("/v1/caption", Multipart.Form().WithFile(new byte[MaxUpload + 1000], "big.mp4", "video/mp4")),
            HttpStatusCode.RequestEntityTooLarge, $"limit of {MaxUpload} bytes"),
        ["no file part"] = (s => Post("/v1/caption", Multipart.Form(("beam", "2"))),
            HttpStatusCode.BadRequest, "no 'file' part"),
        ["beam out of range"] = (s => Post("/v1/caption", Multipart.Form(("beam", "0")).WithFile(s.Image, "image/png")),
            HttpStatusCode.BadRequest, "the 'beam' field must be an integer in 1..16 (got '0')"),
        ["classify without labels"] = (s => Post("/v1/classify", Multipart.Form().WithFile(s.Image, "image/png")),
            HttpStatusCode.BadRequest, "the 'labels' field is required"),
        ["unknown embed task"] = (s => Post("/v1/embed", Multipart.Form(("task", "dance")).WithFile(s.Image, "image/png")),
            HttpStatusCode.BadRequest, "unknown task 'dance'"),
        ["video for an image task"] = (s => Post("/v1/embed", Multipart.Form(("task", "image-retrieval")).WithFile(s.Video, "video/mp4")),
            HttpStatusCode.UnprocessableEntity, "upload 'clip.mp4' is a video, but task image-retrieval embeds an image"),
        ["both retrieval directions"] = (s => Post("/v1/retrieve", Multipart.Form(("text", "a"), ("texts", "b")).WithFile(s.Image, "image/png")),
            HttpStatusCode.BadRequest, "give either 'texts'"),
        ["unknown path"] = (s => new HttpRequestMessage(HttpMethod.Get, "/v1/nothing"), HttpStatusCode.NotFound, "no endpoint GET /v1/nothing"),
        ["wrong method"] = (s => new HttpRequestMessage(HttpMethod.Get, "/v1/caption"), HttpStatusCode.MethodNotAllowed, "GET is not allowed on /v1/caption"),
    };

    public static IEnumerable<object[]> Names => Cases.Keys.Select(k => new object[] { k });

    private static HttpRequestMessage Post(string path, HttpContent content)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        // The server refuses an oversized body from its Content-Length before reading it; with 100-continue the
        // client then never sends the body, so the 413 is read instead of a reset connection.
        request.Headers.ExpectContinue = true;
        return request;
    }

    [Theory]
    [MemberData(nameof(Names))]
    public async Task Bad_request_should_get_a_clear_JSON_error_and_the_server_should_keep_serving(string name)
    {
        var (build, status, says) = Cases[name];
        using var response = await server.Client.SendAsync(build(server));
        string body = await response.Content.ReadAsStringAsync();
        output.WriteLine($"{name}: {(int)response.StatusCode} {body}");

        Assert.Equal(status, response.StatusCode);
        Assert.StartsWith("application/json", response.Content.Headers.ContentType?.ToString());
        var json = await JsonOf(response);
        Assert.Equal((int)status, json.GetProperty("status").GetInt32());
        Assert.Contains(says, json.GetProperty("message").GetString());
        Assert.DoesNotContain(" at UniPerceiverMoe", body);
        using var after = await server.Client.GetAsync("/v1/streams");
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    [Fact]
    public async Task Captioning_should_work_after_a_burst_of_bad_uploads()
    {
        foreach (var name in Cases.Keys.Where(k => k.Contains("upload") || k.Contains("PNG") || k.Contains("video")))
            using (var bad = await server.Client.SendAsync(Cases[name].Request(server)))
                Assert.True((int)bad.StatusCode is >= 400 and < 500, $"{name}: {bad.StatusCode}");

        using var good = await server.Client.PostAsync("/v1/caption", Multipart.Form().WithFile(server.Image, "image/png"));
        Assert.Equal(HttpStatusCode.OK, good.StatusCode);
    }

    [Fact]
    public async Task Requests_without_the_API_key_should_get_401_while_probes_stay_open()
    {
        using var anonymous = new HttpClient { BaseAddress = new Uri(server.Address) };
        using var none = await anonymous.GetAsync("/v1/streams");
        using var wrong = await anonymous.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/metrics") { Headers = { { "X-Api-Key", "nope" } } });
        using var bearer = await anonymous.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/v1/streams") { Headers = { { "Authorization", $"Bearer {ApiKey}" } } });
        using var query = await anonymous.GetAsync($"/v1/streams?api_key={ApiKey}");
        using var health = await anonymous.GetAsync("/healthz");
        using var ready = await anonymous.GetAsync("/readyz");

        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Contains("X-Api-Key", (await JsonOf(none)).GetProperty("message").GetString());
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal("the API key is wrong", (await JsonOf(wrong)).GetProperty("message").GetString());
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.OK],
            new[] { bearer, query, health, ready }.Select(r => r.StatusCode));
        Assert.Equal("ready", (await JsonOf(ready)).GetProperty("status").GetString());
        Assert.Equal(Encoding.UTF8.GetBytes("{\"status\":\"ok\"}"), await health.Content.ReadAsByteArrayAsync());
    }
}
