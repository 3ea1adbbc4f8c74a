using System.Text.Json;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Host.Tests.Cli;

[Collection(CliCollection.Name)]
public sealed class RetrieveCommandSpecs(ITestOutputHelper output)
{
    private static string[] Captions()
    {
        using var meta = JsonDocument.Parse(File.ReadAllText(GoldenFixture.File("run_meta.json")));
        return meta.RootElement.GetProperty("captions_input").EnumerateArray().Select(e => e.GetString()!).ToArray();
    }

    /// <summary>Similarities of the JSON hits, in gallery order (by "index").</summary>
    private static float[] SimilaritiesByIndex(string json, int count)
    {
        using var doc = JsonDocument.Parse(json);
        var hits = doc.RootElement.GetProperty("hits").EnumerateArray().ToArray();
        Assert.Equal(count, hits.Length);
        Assert.Equal(Enumerable.Range(1, count), hits.Select(h => h.GetProperty("rank").GetInt32()));
        var sims = new float[count];
        foreach (var h in hits) sims[h.GetProperty("index").GetInt32()] = h.GetProperty("similarity").GetSingle();
        return sims;
    }

    [Theory]
    [Trait("Category", "Golden")]
    [InlineData("image.clip_224", "sim.image_to_captions")]
    [InlineData("video.clip_224", "sim.video_to_captions")]
    public async Task Retrieve_texts_for_a_golden_input_should_give_the_reference_similarities(string input, string expected)
    {
        var file = Path.Combine(CliHarness.TempDir(), "captions.txt");
        File.WriteAllLines(file, Captions());
        var run = await CliHarness.RunAsync(["retrieve", "--texts-file", file, "--tensor", CliHarness.Input(input), "--json", .. CliHarness.Engine()]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        using var sims = tensor(SimilaritiesByIndex(run.Out, 3)).unsqueeze(0);
        TensorAssert.Close(output, expected, GoldenFixture.Output(expected), sims, Tolerances.Features);
    }

    [Fact]
    [Trait("Category", "Golden")]
    public async Task Retrieve_images_for_a_text_should_rank_a_directory_with_the_reference_similarity()
    {
        var dir = CliHarness.TempDir();
        var raw = GoldenFixture.Input("image.raw_u8");                                  // [H, W, 3] uint8
        var (height, width) = GoldenFacts.RawImageSize;
        File.WriteAllBytes(Path.Combine(dir, "a-golden.png"), PngWriter.EncodeRgb(raw.data<byte>().ToArray(), height, width));
        var grey = Enumerable.Repeat((byte)128, 32 * 48 * 3).ToArray();
        File.WriteAllBytes(Path.Combine(dir, "b-grey.png"), PngWriter.EncodeRgb(grey, 32, 48));
        File.WriteAllText(Path.Combine(dir, "notes.txt"), "not an image, and not listed");

        var run = await CliHarness.RunAsync(["retrieve", "--text", Captions()[0], "--images-dir", dir, "--json", .. CliHarness.Engine()]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        var sims = SimilaritiesByIndex(run.Out, 2);
        float golden = GoldenFixture.Output("sim.image_to_captions")[0, 0].item<float>();
        Assert.True(Math.Abs(sims[0] - golden) <= Tolerances.Features, $"similarity {sims[0]} vs reference {golden}");
        Assert.NotEqual(sims[0], sims[1]);
    }

    [Fact]
    public async Task Retrieve_without_json_should_print_ranked_lines()
    {
        var file = Path.Combine(CliHarness.TempDir(), "captions.txt");
        File.WriteAllLines(file, Captions());
        var run = await CliHarness.RunAsync(["retrieve", "--texts-file", file, "--tensor", CliHarness.Input("image.clip_224"), "--top", "2", .. CliHarness.Engine()]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        var lines = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Matches(@"^\s+1\s+-?\d\.\d{4}  \S", lines[0]);
        Assert.Matches(@"^\s+2\s+-?\d\.\d{4}  \S", lines[1]);
    }
}
