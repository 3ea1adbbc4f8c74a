using System.Text.Json;
using UniPerceiverMoe.Model.Checkpoints;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Host.Tests.Cli;

[Collection(CliCollection.Name)]
public sealed class EmbedCommandSpecs(ITestOutputHelper output)
{
    /// <summary>The __metadata__ object of a safetensors header.</summary>
    private static Dictionary<string, string> Metadata(string path)
    {
        using var fs = File.OpenRead(path);
        var length = new byte[8];
        fs.ReadExactly(length);
        var header = new byte[BitConverter.ToInt64(length)];
        fs.ReadExactly(header);
        using var doc = JsonDocument.Parse(header);
        return doc.RootElement.GetProperty("__metadata__").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
    }

    [Fact]
    [Trait("Category", "Golden")]
    public async Task Embed_image_retrieval_should_write_the_reference_feature_with_task_and_checkpoint_metadata()
    {
        var file = Path.Combine(CliHarness.TempDir(), "feature.safetensors");
        var run = await CliHarness.RunAsync(["embed", "--task", "image-retrieval", "--tensor", CliHarness.Input("image.clip_224"), "--out", file, .. CliHarness.Engine()]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        var tensors = SafeTensors.Load(file);
        Assert.Equal(["feature"], tensors.Keys);
        TensorAssert.Close(output, "feat.image_retrieval", GoldenFixture.Output("feat.image_retrieval"), tensors["feature"], Tolerances.Features);
        var metadata = Metadata(file);
        Assert.Equal("image-retrieval", metadata["task"]);
        Assert.Equal(CheckpointFingerprint.Compute(GoldenModel.CheckpointPath), metadata["checkpoint_sha256"]);
        Assert.Contains("written to " + file, run.Out);
    }

    [Fact]
    [Trait("Category", "Golden")]
    public async Task Embed_retrieval_target_text_should_write_the_reference_caption_feature()
    {
        using var meta = JsonDocument.Parse(File.ReadAllText(GoldenFixture.File("run_meta.json")));
        string caption = meta.RootElement.GetProperty("captions_input")[1].GetString()!;
        var file = Path.Combine(CliHarness.TempDir(), "text.safetensors");
        var run = await CliHarness.RunAsync(["embed", "--task", "retrieval-target", "--text", caption, "--out", file, "--json", .. CliHarness.Engine()]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        using var json = JsonDocument.Parse(run.Out);
        Assert.Equal([1L, GoldenFacts.Hidden], json.RootElement.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()));
        var feature = SafeTensors.Load(file)["feature"];
        TensorAssert.Close(output, "feat.captions_retrieval[1]", GoldenFixture.Output("feat.captions_retrieval").narrow(0, 1, 1), feature, Tolerances.Features);
        Assert.Equal("retrieval-target", Metadata(file)["task"]);
    }

    [Fact]
    public async Task Embed_should_take_the_checkpoint_and_cache_from_a_config_file()
    {
        var dir = CliHarness.TempDir();
        var config = Path.Combine(dir, "cli.conf");
        File.WriteAllText(config, $"upmoe.engine {{\n  checkpoint = {JsonSerializer.Serialize(GoldenModel.CheckpointPath)}\n" +
            $"  cache-dir = {JsonSerializer.Serialize(CliHarness.CacheDir)}\n  vocab = {JsonSerializer.Serialize(CliHarness.Vocab)}\n}}\n");
        var file = Path.Combine(dir, "feature.safetensors");
        var run = await CliHarness.RunAsync("embed", "--config", config, "--task", "image-classification",
            "--tensor", CliHarness.Input("image.in1k_224"), "--out", file, "--threads", "1");
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        TensorAssert.Close(output, "feat.image_cls", GoldenFixture.Output("feat.image_cls"), SafeTensors.Load(file)["feature"], Tolerances.Features);
    }

    [Fact]
    public async Task Embed_should_refuse_an_image_for_a_video_task_as_a_usage_error()
    {
        var run = await CliHarness.RunAsync(["embed", "--task", "video-retrieval", "--tensor", CliHarness.Input("image.clip_224"),
            "--out", Path.Combine(CliHarness.TempDir(), "x.safetensors"), "--quiet", .. CliHarness.Engine()]);
        output.WriteLine(run.ToString());
        Assert.Equal(2, run.ExitCode);
        var line = Assert.Single(run.ErrLines);
        Assert.StartsWith($"upmoe: error: {CliHarness.Input("image.clip_224")}: is an image", line);
    }
}
