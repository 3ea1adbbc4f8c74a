using TorchSharp;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Model.Decoding;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Actors.Tests.Engine;

/// <summary>
/// Tensor lifetimes are explicit: after warm-up (merged-weight caches, vocabulary bank), repeated requests leave no
/// live tensor behind. With the default caller-runs dispatcher every tensor of a request is created and released on
/// the sequence executor's thread, whose live-tensor count TorchSharp keeps.
/// </summary>
[Trait("Category", "Golden")]
public sealed class TensorLifetimeSpecs(ITestOutputHelper output)
{
    [Fact]
    public async Task Repeated_requests_should_leave_no_live_tensors()
    {
        await using var engine = EngineFixture.Start(PlacementPlanner.PerExpert(GoldenModel.Model.Config));
        var bank = await engine.VocabularyBankAsync();
        using var image = GoldenFixture.Input("image.clip_224").unsqueeze(0).unsqueeze(0);
        using var video = GoldenFixture.Input("video.clip_224").unsqueeze(0);

        int Work(Model.Inference.UniPerceiverRunner runner)
        {
            using (var f = UniPerceiverTasks.VisualFeatures(runner, video, MoeAttribute.VisualInput)) { }
            using (var f = UniPerceiverTasks.TextFeatures(runner, [[320, 1125, 49407], [320, 49407]], MoeAttribute.RetrievalTarget)) { }
            CaptionBeamSearcher.Decode(runner, image, bank, new CaptionOptions { MaxLength = 6 });
            return 0;
        }

        await engine.RunAsync(Work, "warm-up", default);
        long before = await engine.RunAsync(_ => DisposeScopeManager.Statistics.ThreadTotalLiveCount, "count", default);
        for (int i = 0; i < 5; i++) await engine.RunAsync(Work, "request", default);
        long after = await engine.RunAsync(_ => DisposeScopeManager.Statistics.ThreadTotalLiveCount, "count", default);
        output.WriteLine($"live tensors on the sequence executor thread: {before} before, {after} after 5 rounds");
        Assert.Equal(before, after);
    }
}
