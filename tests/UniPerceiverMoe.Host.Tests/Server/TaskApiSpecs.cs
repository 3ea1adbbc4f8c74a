using System.Net;
using System.Text.Json;
using UniPerceiverMoe.Host.Inputs;
using Xunit.Abstractions;
using static UniPerceiverMoe.Host.Tests.Server.ServerFixture;

namespace UniPerceiverMoe.Host.Tests.Server;

/// <summary>Caption, classify, retrieve and embed over real HTTP on loopback, for uploaded images and videos.</summary>
[Collection(ServerCollection.Name)]
public sealed class TaskApiSpecs(ServerFixture server, ITestOutputHelper output)
{
    private async Task<JsonElement> PostOk(string path, HttpContent content)
    {
        using var response = await server.Client.PostAsync(path, content);
        var json = await JsonOf(response);
        output.WriteLine($"{path}: {(int)response.StatusCode} {json.ToString()[..Math.Min(300, json.ToString().Length)]}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return json;
    }

    [Fact]
    public async Task Caption_of_an_uploaded_image_should_equal_the_engine_caption_of_the_same_file()
    {
        var json = await PostOk("/v1/caption", Multipart.Form(("beam", "2")).WithFile(server.Image, "image/png"));

        using var input = VisualLoader.LoadImage(server.Image, ImagePipeline.Clip);
        var direct = await server.Runtime.Engine.CaptionAsync(input.Pixels);
        Assert.Equal(direct.Best.Tokens, json.GetProperty("ids").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal("upload 'pattern.png'", json.GetProperty("input").GetString());
        Assert.False(string.IsNullOrWhiteSpace(json.GetProperty("text").GetString()));
        Assert.Equal(2, json.GetProperty("beams").GetArrayLength());
    }

    [Fact]
    public async Task Caption_of_an_uploaded_video_should_return_a_caption()
    {
        var json = await PostOk("/v1/caption", Multipart.Form(("frames", "4")).WithFile(server.Video, "video/mp4"));

        Assert.NotEmpty(json.GetProperty("ids").EnumerateArray());
        Assert.Equal("upload 'clip.mp4'", json.GetProperty("input").GetString());
    }

    [Fact]
    public async Task Classify_should_rank_every_label_with_probabilities_summing_to_one()
    {
        var json = await PostOk("/v1/classify", Multipart.Form(("labels", "a dog, a test pattern, a car")).WithFile(server.Image, "image/png"));

        var labels = json.GetProperty("labels").EnumerateArray().ToArray();
        Assert.Equal(["a car", "a dog", "a test pattern"], labels.Select(l => l.GetProperty("label").GetString()!).Order().ToArray());
        Assert.Equal(1.0, labels.Sum(l => l.GetProperty("probability").GetDouble()), 3);
    }

    [Fact]
    public async Task Classify_of_a_video_should_average_the_default_four_views()
    {
        var json = await PostOk("/v1/classify", Multipart.Form(("labels", "a dog,a test pattern")).WithFile(server.Video, "video/mp4"));

        Assert.Equal(4, json.GetProperty("views").GetInt32());
    }

    [Fact]
    public async Task Retrieve_should_rank_texts_for_a_file_and_files_for_a_text()
    {
        var texts = await PostOk("/v1/retrieve", Multipart.Form(("texts", "a dog\na test pattern\na car")).WithFile(server.Image, "image/png"));
        var files = await PostOk("/v1/retrieve", Multipart.Form(("text", "a test pattern")).WithFile(server.Image, "image/png").WithFile(server.Video, "video/mp4"));

        Assert.Equal(3, texts.GetProperty("hits").GetArrayLength());
        var ranked = files.GetProperty("hits").EnumerateArray().Select(h => h.GetProperty("item").GetString()!).Order().ToArray();
        Assert.Equal(["upload 'clip.mp4'", "upload 'pattern.png'"], ranked);
    }

    [Fact]
    public async Task Embed_should_return_unit_features_for_images_videos_and_texts()
    {
        foreach (var (task, content) in new (string, HttpContent)[]
        {
            ("image-retrieval", Multipart.Form(("task", "image-retrieval")).WithFile(server.Image, "image/png")),
            ("video-retrieval", Multipart.Form(("task", "video-retrieval")).WithFile(server.Video, "video/mp4")),
            ("retrieval-target", new FormUrlEncodedContent([new("task", "retrieval-target"), new("text", "a test pattern")])),
        })
        {
            var json = await PostOk("/v1/embed", content);
            var feature = json.GetProperty("feature").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            Assert.Equal(task, json.GetProperty("task").GetString());
            Assert.Equal([1L, feature.Length], json.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()));
            Assert.Equal(1.0, Math.Sqrt(feature.Sum(f => f * f)), 4);
        }
    }
}
