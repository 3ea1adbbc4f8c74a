using System.Globalization;
using System.Text.RegularExpressions;
using UniPerceiverMoe.Host.Cli.Commands;
using UniPerceiverMoe.Host.Cli.Demo;
using UniPerceiverMoe.Host.Tests.Cli;
using UniPerceiverMoe.Demo.Synthetic;
using UniPerceiverMoe.Demo.Training;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Host.Tests.Commands;

/// <summary><c>upmoe demo --task watch</c> on a demo model trained for two steps (its alerts are not good; the run's
/// plumbing and scoring are what is checked), and the scoring of alerts against the scenes.</summary>
[Collection(CliCollection.Name)]
public sealed partial class WatchDemoSpecs(ITestOutputHelper output)
{
    [Fact]
    public async Task A_watch_demo_should_print_alerts_beside_the_scene_on_screen_and_end_with_precision_and_recall()
    {
        string dir = Path.Combine(CliHarness.TempDir(), "demo");
        var train = await CliHarness.RunAsync("train-demo", "--out", dir, "--steps", "2", "--batch", "2", "--seed", "3", "--threads", "1", "--vocab", CliHarness.Vocab);
        Assert.True(train.ExitCode == 0, train.ToString());
        string[] queries = ["red", "a circle", "moves up"];
        // Threshold -1: every cosine reaches it, so each query's alert starts on window 0 and never stops; the
        // figures then follow from the scenes alone.
        var run = await CliHarness.RunAsync(["demo", "--task", "watch", "--model", dir, "--clips", "4", "--seed", "11", "--fast", "--threshold", "-1",
            "--vocab", CliHarness.Vocab, "--cache-dir", CliHarness.CacheDir, "--threads", "1", .. queries.SelectMany(q => new[] { "--query", q })]);
        output.WriteLine(run.ToString());
        Assert.True(run.ExitCode == 0, run.ToString());

        var manifest = DemoManifest.FromJsonFile(Path.Combine(dir, DemoModelFiles.ManifestFile));
        var scenes = new SyntheticVideoGenerator(manifest.Video.ToOptions()).SampleMany(11, 0, 4);
        var lines = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var alerts = lines.Select(l => AlertLine().Match(l)).Where(m => m.Success).ToArray();
        Assert.Equal(queries, alerts.Select(m => m.Groups["query"].Value));
        Assert.All(alerts, m => Assert.Equal("start", m.Groups["event"].Value));
        Assert.All(alerts, m => Assert.Equal(CaptionGrammar.Caption(scenes[0]), m.Groups["truth"].Value));
        Assert.All(alerts, m => Assert.Equal(SceneQuery.Parse(m.Groups["query"].Value).Matches(scenes[0]) ? "✓" : "✗", m.Groups["mark"].Value));

        var parsed = queries.Select(SceneQuery.Parse).ToArray();
        int hits = parsed.Count(q => q.Matches(scenes[0]));
        int episodes = parsed.Sum(q => Enumerable.Range(0, 4).Count(w => q.Matches(scenes[w]) && (w == 0 || !q.Matches(scenes[w - 1]))));
        string Percent(int a, int b) => b == 0 ? "n/a" : (100.0 * a / b).ToString("F1", CultureInfo.InvariantCulture) + " %";
        Assert.Equal($"watch: precision {Percent(hits, 3)} ({hits} of 3 alert starts on a matching scene), " +
                     $"recall {Percent(episodes, episodes)} ({episodes} of {episodes} matching episodes alerted); 4 scenes, 3 queries, threshold -1", lines[^1]);
        Assert.Contains("windows in 4, done 4, dropped 0, failed 0", run.Err);

        // --json: one line per alert event (window 0's holds all three starts), then the figures as one JSON object.
        var json = await CliHarness.RunAsync(["demo", "--task", "watch", "--model", dir, "--clips", "4", "--seed", "11", "--fast", "--threshold", "-1",
            "--json", "--vocab", CliHarness.Vocab, "--cache-dir", CliHarness.CacheDir, "--threads", "1", .. queries.SelectMany(q => new[] { "--query", q })]);
        Assert.True(json.ExitCode == 0, json.ToString());
        var jsonLines = json.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(2, jsonLines.Length);
        Assert.Equal(queries, jsonLines[0].GetProperty("alerts").EnumerateArray().Select(a => a.GetProperty("query").GetString()));
        var figures = jsonLines[1].GetProperty("watch");
        Assert.Equal((3, hits, episodes, episodes), (figures.GetProperty("starts").GetInt32(), figures.GetProperty("true_positives").GetInt32(),
            figures.GetProperty("episodes").GetInt32(), figures.GetProperty("found").GetInt32()));
        Assert.Equal(3, jsonLines[1].GetProperty("queries").GetArrayLength());
    }

    [Fact]
    public async Task A_watch_query_outside_the_demo_grammar_should_fail_with_one_error_line()
    {
        var run = await CliHarness.RunAsync("demo", "--task", "watch", "--query", "a person falls", "--model", CliHarness.TempDir(), "--clips", "1");
        Assert.Equal(2, run.ExitCode);
        Assert.StartsWith("upmoe: error: ", Assert.Single(run.ErrLines));
        Assert.Contains("'a person falls' names no colour, shape or event of the demo grammar", run.Err);
    }

    [Fact]
    public void Scoring_should_count_starts_on_matching_scenes_and_episodes_with_an_active_alert()
    {
        var generator = new SyntheticVideoGenerator();
        // Windows 0..5: red, red, other, red, other, other (colour 0 is red).
        var scenes = new[] { 0, 0, 2, 0, 3, 4 }.Select((c, i) => generator.Sample(1, i) with { Colour = c }).ToArray();
        var score = new WatchScore(scenes, [SceneQuery.Parse("red")]);
        // Started on red (hit), held across the other scene and the next red (episode 2 found without a new start),
        // stopped, started again on an other scene (a false start).
        Assert.True(score.Observe(1, new("red", Streams.Tasks.AlertKind.Start, 0.5)));
        Assert.False(score.Observe(4, new("red", Streams.Tasks.AlertKind.Stop, 0.1)));
        Assert.False(score.Observe(5, new("red", Streams.Tasks.AlertKind.Start, 0.6)));

        Assert.Equal(new WatchFigures(Starts: 2, TruePositives: 1, Episodes: 2, Found: 2), score.Of(0));
        Assert.Equal(0.5, score.Total().Precision);
        Assert.Equal(1.0, score.Total().Recall);
    }

    [Theory]
    [InlineData("a red circle moves to the left", 0, ShapeKind.Circle, ClipAction.MoveLeft, null)]
    [InlineData("a blue square turns yellow", 2, ShapeKind.Square, ClipAction.Turn, 3)]
    [InlineData("disappears", null, null, ClipAction.Disappear, null)]
    [InlineData("a triangle appears", null, ShapeKind.Triangle, ClipAction.Appear, null)]
    public void A_query_should_name_the_attributes_of_the_grammar_it_uses(string text, int? colour, ShapeKind? shape, ClipAction? action, int? second)
    {
        var q = SceneQuery.Parse(text);
        Assert.Equal((colour, shape, action, second), (q.Colour, q.Shape, q.Action, q.SecondColour));
    }

    [GeneratedRegex(@"^\[\d\d:\d\d\.\d\] alert (?<event>start|stop)\s+'(?<query>[^']+)'\s+-?\d\.\d{3}\s+(?<mark>✓|✗) on screen: (?<truth>.+?)  \(\d+ ms\)$")]
    private static partial Regex AlertLine();
}
