using System.Net;
using System.Text.RegularExpressions;
using UniPerceiverMoe.Host.Cli;
using UniPerceiverMoe.Host.Tests.Cli;
using UniPerceiverMoe.Host.Tests.Server;
using UniPerceiverMoe.TestSupport;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Host.Tests.Commands;

/// <summary>
/// A first run: every command that needs a model and is given none uses the demo model that ships beside upmoe
/// (src/Host/DemoModel, copied to demo-model/ in the build output) and says so on one stderr line.
/// </summary>
[Collection(CliCollection.Name)]
public sealed partial class DemoModelFallbackSpecs(ITestOutputHelper output)
{
    /// <summary>Engine options without a checkpoint: the fixture's vocabulary, a test cache, one thread.</summary>
    private static string[] NoCheckpoint => ["--vocab", CliHarness.Vocab, "--cache-dir", CliHarness.CacheDir, "--threads", "1"];

    private static void AssertOneNoticeLine(CliRun run) =>
        Assert.Single(run.ErrLines, l => l.StartsWith("upmoe: no checkpoint given: using the demo model in " + DemoModelLocator.Shipped, StringComparison.Ordinal));

    [Fact]
    public void The_demo_model_should_ship_beside_upmoe()
    {
        Assert.True(DemoModelLocator.IsComplete(DemoModelLocator.Shipped), $"no demo model in {DemoModelLocator.Shipped}");
        Assert.Equal(DemoModelLocator.Shipped, DemoModelLocator.Find(CliHarness.TempDir()));
    }

    [Fact]
    public async Task Classify_without_a_checkpoint_should_use_the_demo_model_and_say_so_once()
    {
        var run = await CliHarness.RunAsync(["classify", "--tensor", CliHarness.Input("image.in1k_224"), "--labels", "circle,square,triangle", "--json", .. NoCheckpoint]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        AssertOneNoticeLine(run);
        Assert.Contains("\"circle\"", run.Out);
    }

    [Fact]
    public async Task Demo_eval_without_options_should_find_the_demo_model_and_end_with_the_summary_line()
    {
        var run = await CliHarness.RunAsync("demo-eval", "--clips", "4", "--seed", "77", "--show", "0", "--threads", "1", "--vocab", CliHarness.Vocab);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        AssertOneNoticeLine(run);
        Assert.Matches(Summary(), run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1].Trim());
    }

    [Fact]
    public async Task Serve_without_a_checkpoint_should_answer_readyz_on_the_demo_model()
    {
        var text = new StringWriter();
        var stderr = TextWriter.Synchronized(text);
        using var stop = new CancellationTokenSource();
        var serving = Task.Run(() => Program.InvokeAsync(["serve", "--port", "0", .. NoCheckpoint], TextWriter.Null, stderr, stop.Token));
        string address = "";
        await ServerFixture.Eventually(() =>
        {
            Assert.False(serving.IsCompleted, $"serve ended early: {stderr}");
            address = Address().Match(text.ToString()).Value;
            return Task.FromResult(address.Length > 0);
        }, "serve to print its address");
        using var client = new HttpClient { BaseAddress = new Uri(address) };
        await ServerFixture.Eventually(async () => (await client.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK, "/readyz");
        stop.Cancel();
        Assert.Equal(0, await serving.WaitAsync(ServerFixture.Patience));
        output.WriteLine(text.ToString());
        Assert.Single(text.ToString().Split('\n'), l => l.StartsWith("upmoe: no checkpoint given: using the demo model", StringComparison.Ordinal));
    }

    [GeneratedRegex(@"^caption exact-match: \d+\.\d %, attribute accuracy: \d+\.\d %$")]
    private static partial Regex Summary();

    [GeneratedRegex(@"http://127\.0\.0\.1:\d+")]
    private static partial Regex Address();
}
