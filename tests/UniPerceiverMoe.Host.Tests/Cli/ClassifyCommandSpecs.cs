using System.Text.Json;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Host.Tests.Cli;

[Collection(CliCollection.Name)]
public sealed class ClassifyCommandSpecs(ITestOutputHelper output)
{
    private static readonly IReadOnlyList<string> ClassNames = GoldenFixture.ClassNames();

    [Fact]
    [Trait("Category", "Golden")]
    public async Task Classify_json_of_the_golden_imagenet_tensor_should_give_the_reference_logits()
    {
        var run = await CliHarness.RunAsync(["classify", "--tensor", CliHarness.Input("image.in1k_224"),
            "--labels", string.Join(",", ClassNames), "--json", .. CliHarness.Engine()]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        using var json = JsonDocument.Parse(run.Out);
        var labels = json.RootElement.GetProperty("labels").EnumerateArray()
            .ToDictionary(l => l.GetProperty("label").GetString()!, l => (Logit: l.GetProperty("logit").GetSingle(), P: l.GetProperty("probability").GetSingle()));
        Assert.Equal(ClassNames.Order(), labels.Keys.Order());
        using var logits = tensor(ClassNames.Select(n => labels[n].Logit).ToArray()).unsqueeze(0);
        TensorAssert.Close(output, "logits.image_cls", GoldenFixture.Output("logits.image_cls"), logits, Tolerances.Logits);
        Assert.Equal(1.0, labels.Values.Sum(l => l.P), 5);
        var printed = json.RootElement.GetProperty("labels").EnumerateArray().Select(l => l.GetProperty("probability").GetSingle()).ToArray();
        Assert.Equal(printed.OrderDescending(), printed);                               // best first
    }

    [Fact]
    public async Task Classify_with_a_labels_file_and_top_should_print_that_many_labels_as_text()
    {
        var dir = CliHarness.TempDir();
        var file = Path.Combine(dir, "labels.txt");
        File.WriteAllLines(file, ["goldfish", "", "  tree frog  ", "espresso"]);
        var run = await CliHarness.RunAsync(["classify", "--tensor", CliHarness.Input("image.in1k_224"),
            "--labels-file", file, "--top", "2", "--quiet", .. CliHarness.Engine()]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        var lines = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.All(lines, l => Assert.Matches(@"^\s*\d+\.\d\d %  (goldfish|tree frog|espresso)\s+\(logit \d+\.\d{4}\)$", l));
        Assert.Equal("", run.Err);                                                       // --quiet
    }
}
