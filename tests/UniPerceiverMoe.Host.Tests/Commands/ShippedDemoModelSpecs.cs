using UniPerceiverMoe.Host.Cli;
using UniPerceiverMoe.Host.Tests.Cli;
using UniPerceiverMoe.Model.Checkpoints;
using UniPerceiverMoe.Model.Tokenization;
using UniPerceiverMoe.Demo.Training;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Host.Tests.Commands;

/// <summary>
/// The demo model the project ships (src/Host/DemoModel: <c>upmoe train-demo --seed 1 --store float16</c>, the
/// recipe in its README): stored as float16, it loads strictly and still captions held-out clips ≥ 90 % exactly
/// right, the accuracy the README promises a new user.
/// </summary>
[Collection(CliCollection.Name)]
public sealed class ShippedDemoModelSpecs(ITestOutputHelper output)
{
    [Fact]
    public void Shipped_demo_model_should_be_stored_as_float16_and_load_as_float32()
    {
        using var state = CheckpointLoader.Load(Path.Combine(DemoModelLocator.Shipped, DemoModelFiles.ModelFile));
        Assert.Equal(state.Count, state.Report.SourceDtypes[ScalarType.Float16]);
        var (model, manifest) = DemoModelFiles.Load(DemoModelLocator.Shipped);
        using var _ = model;
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        Assert.InRange(manifest.Steps, 1, new DemoTrainingOptions().Steps);  // the default recipe (or a checkpoint of it)
        Assert.Equal(new DemoTrainingOptions().Seed, manifest.Seed);
    }

    [Fact]
    public async Task Shipped_demo_model_should_caption_at_least_90_percent_of_held_out_clips_exactly()
    {
        set_num_threads(1);
        var (model, manifest) = DemoModelFiles.Load(DemoModelLocator.Shipped);
        using var _ = model;
        var options = new DemoEvalOptions { Clips = 50, Seed = 1000 };       // not the training seed: held out
        Assert.NotEqual(manifest.Seed, options.Seed);
        var result = await DemoEvaluator.EvaluateAsync(model, manifest, ClipTokenizer.Load(CliHarness.Vocab), options);
        output.WriteLine(result.Summary);
        foreach (var miss in result.Samples.Where(s => !s.CaptionExact)) output.WriteLine($"expected \"{miss.Expected}\", got \"{miss.Predicted}\"");
        Assert.True(result.CaptionExactMatch >= 0.9, result.Summary);
    }
}
