using System.Text.Json;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Host.Tests.Cli;

[Collection(CliCollection.Name)]
public sealed class CaptionCommandSpecs(ITestOutputHelper output)
{
    private static readonly long Eos = GoldenFixture.Output("caption.beam2.eos_id").item<long>();

    /// <summary>Row 0 of the reference's beam-2 decode (its default output) up to the first EOS.</summary>
    private static long[] GoldenIds() =>
        GoldenFixture.Output("caption.beam2.ids")[0].data<long>().ToArray().TakeWhile(id => id != Eos).ToArray();

    private static long[] Ids(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt64()).ToArray();

    [Fact]
    [Trait("Category", "Golden")]
    public async Task Caption_json_of_the_golden_image_tensor_should_print_the_reference_beam_ids()
    {
        var run = await CliHarness.RunAsync(["caption", "--json", "--tensor", CliHarness.Input("image.clip_224"), .. CliHarness.Engine()]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        using var json = JsonDocument.Parse(run.Out);
        var root = json.RootElement;
        var expected = GoldenIds();
        Assert.NotEmpty(expected);
        Assert.Equal(expected, Ids(root.GetProperty("ids")));
        Assert.Equal(2, root.GetProperty("beams").GetArrayLength());
        Assert.Equal(expected, Ids(root.GetProperty("beams")[0].GetProperty("ids")));
        float score = root.GetProperty("score").GetSingle();
        float goldenScore = GoldenFixture.Output("caption.beam2.score")[0].item<float>();
        Assert.True(Math.Abs(score - goldenScore) <= Tolerances.Logits, $"score {score} vs reference {goldenScore}");
        using var meta = JsonDocument.Parse(File.ReadAllText(GoldenFixture.File("run_meta.json")));
        string referenceText = meta.RootElement.GetProperty("captions").GetProperty("beam2")[0].GetString()!;
        Assert.Equal(referenceText.Trim(), root.GetProperty("text").GetString());
    }

    [Fact]
    [Trait("Category", "Golden")]
    public async Task Caption_of_a_png_of_the_golden_raw_image_should_decode_it_and_match_the_reference()
    {
        var dir = CliHarness.TempDir();
        var raw = GoldenFixture.Input("image.raw_u8");                                  // [H, W, 3] uint8
        var png = Path.Combine(dir, "golden.png");
        File.WriteAllBytes(png, PngWriter.EncodeRgb(raw.data<byte>().ToArray(), (int)raw.shape[0], (int)raw.shape[1]));

        var run = await CliHarness.RunAsync(["caption", "--json", "--image", png, .. CliHarness.Engine()]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        using var json = JsonDocument.Parse(run.Out);
        Assert.Equal(GoldenIds(), Ids(json.RootElement.GetProperty("ids")));
    }

    [Fact]
    public async Task Caption_of_an_mp4_video_should_print_json_with_ids_and_its_decoded_text()
    {
        var video = CliHarness.TestVideo(CliHarness.TempDir());
        var run = await CliHarness.RunAsync(["caption", "--json", "--video", video, .. CliHarness.Engine()]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        using var json = JsonDocument.Parse(run.Out);
        var ids = Ids(json.RootElement.GetProperty("ids"));
        Assert.InRange(ids.Length, 1, 21);
        Assert.DoesNotContain(Eos, ids);
        Assert.Equal(GoldenModel.Tokenizer.Decode(ids.Select(i => (int)i)).Trim(), json.RootElement.GetProperty("text").GetString());
        Assert.Contains("decoding " + video, run.Err);                                   // progress went to stderr
    }

    [Fact]
    public async Task Caption_without_json_should_print_the_text_then_the_score_and_keep_progress_off_stdout()
    {
        var run = await CliHarness.RunAsync(["caption", "--beam", "1", "--tensor", CliHarness.Input("image.clip_224"), .. CliHarness.Engine()]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        var lines = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("  score -", lines[1]);
        Assert.EndsWith("(best of 1 beam)", lines[1].TrimEnd());
        Assert.Contains("loading ", run.Err);
        Assert.DoesNotContain("loading ", run.Out);
    }
}
