using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Host.Tests.Cli;

/// <summary>Bad input ends with exit code 2 and exactly one stderr line "upmoe: error: &lt;input&gt;: &lt;reason&gt;",
/// nothing on stdout, no stack trace.</summary>
[Collection(CliCollection.Name)]
public sealed class CliErrorSpecs(ITestOutputHelper output)
{
    private readonly string dir = CliHarness.TempDir();

    private async Task AssertInputErrorAsync(string input, string reason, params string[] args)
    {
        var run = await CliHarness.RunAsync([.. args, "--quiet"]);
        output.WriteLine(run.ToString());
        Assert.Equal(2, run.ExitCode);
        Assert.Equal("", run.Out);
        var line = Assert.Single(run.ErrLines);
        Assert.StartsWith($"upmoe: error: {input}: ", line);
        Assert.Contains(reason, line, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(" at ", line);
    }

    [Fact]
    public async Task Corrupt_video_should_fail_with_one_line_naming_the_video()
    {
        var video = Path.Combine(dir, "random.mp4");
        File.WriteAllBytes(video, Enumerable.Range(0, 20_000).Select(i => (byte)(i * 7919 % 251)).ToArray());
        await AssertInputErrorAsync(video, "ffprobe could not read it", ["caption", "--video", video, .. CliHarness.Engine()]);
    }

    [Fact]
    public async Task Empty_image_should_fail_with_one_line_naming_the_image()
    {
        var image = Path.Combine(dir, "empty.png");
        File.WriteAllBytes(image, []);
        await AssertInputErrorAsync(image, "0 bytes", ["caption", "--image", image, .. CliHarness.Engine()]);
    }

    [Fact]
    public async Task Text_file_named_png_should_fail_as_not_an_image()
    {
        var image = Path.Combine(dir, "x.png");
        File.WriteAllText(image, "this is text, not pixels\n");
        await AssertInputErrorAsync(image, "not a PNG or JPEG image", ["caption", "--image", image, .. CliHarness.Engine()]);
    }

    [Fact]
    public async Task Missing_labels_file_should_fail_naming_it()
    {
        var labels = Path.Combine(dir, "no-such-labels.txt");
        await AssertInputErrorAsync(labels, "labels file not found",
            ["classify", "--tensor", CliHarness.Input("image.in1k_224"), "--labels-file", labels, .. CliHarness.Engine()]);
    }

    [Fact]
    public async Task Ten_thousand_token_text_should_fail_as_too_long()
    {
        string text = string.Join(" ", Enumerable.Repeat("word", 10_000));
        await AssertInputErrorAsync("--text", "more than 512 tokens",
            ["embed", "--task", "retrieval-target", "--text", text, "--out", Path.Combine(dir, "t.safetensors"), .. CliHarness.Engine()]);
        Assert.False(File.Exists(Path.Combine(dir, "t.safetensors")));
    }

    [Fact]
    public async Task Missing_checkpoint_should_fail_naming_it()
    {
        var checkpoint = Path.Combine(dir, "missing.pth");
        await AssertInputErrorAsync(checkpoint, "checkpoint not found",
            ["caption", "--tensor", CliHarness.Input("image.clip_224"), .. CliHarness.Engine(checkpoint)]);
    }

    [Fact]
    public async Task Config_file_with_a_malformed_value_should_fail_naming_it()
    {
        var config = Path.Combine(dir, "bad.conf");
        File.WriteAllText(config, $"upmoe.engine.checkpoint = {System.Text.Json.JsonSerializer.Serialize(GoldenModel.CheckpointPath)}\nupmoe.engine.torch-threads = many\n");
        await AssertInputErrorAsync(config, "'many'", ["caption", "--config", config, "--tensor", CliHarness.Input("image.clip_224")]);
    }

    [Fact]
    public async Task Corrupt_checkpoint_should_fail_naming_it()
    {
        var checkpoint = Path.Combine(dir, "corrupt.pth");
        File.WriteAllBytes(checkpoint, Enumerable.Range(0, 4096).Select(i => (byte)(i * 31 % 253 + 1)).ToArray());
        await AssertInputErrorAsync(checkpoint, "not a checkpoint",
            ["caption", "--model-config", "tiny", "--tensor", CliHarness.Input("image.clip_224"), .. CliHarness.Engine(checkpoint)]);
    }

    [Fact]
    public async Task Missing_tensor_name_should_fail_listing_the_names_the_file_has()
    {
        var spec = CliHarness.Input("no.such.tensor");
        await AssertInputErrorAsync(spec, "image.clip_224", ["caption", "--tensor", spec, .. CliHarness.Engine()]);
    }

    [Fact]
    public async Task Without_quiet_the_error_should_still_be_one_line_after_the_progress()
    {
        var image = Path.Combine(dir, "empty.png");
        File.WriteAllBytes(image, []);
        var run = await CliHarness.RunAsync(["caption", "--image", image, .. CliHarness.Engine()]);
        output.WriteLine(run.ToString());
        Assert.Equal(2, run.ExitCode);
        Assert.Single(run.ErrLines, l => l.StartsWith("upmoe: error: ", StringComparison.Ordinal));
        Assert.StartsWith($"upmoe: error: {image}: ", run.ErrLines[^1]);
    }

    [Fact]
    public async Task Verbose_should_add_the_stack_trace()
    {
        var image = Path.Combine(dir, "empty.png");
        File.WriteAllBytes(image, []);
        var run = await CliHarness.RunAsync(["caption", "--image", image, "--quiet", "--verbose", .. CliHarness.Engine()]);
        output.WriteLine(run.ToString());
        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith($"upmoe: error: {image}: ", run.ErrLines[0]);
        Assert.Contains(run.ErrLines, l => l.StartsWith("at ", StringComparison.Ordinal));
    }
}
