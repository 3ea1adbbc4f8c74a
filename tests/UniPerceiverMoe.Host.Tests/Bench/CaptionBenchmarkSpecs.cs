using System.Globalization;
using UniPerceiverMoe.Host.Bench;

namespace UniPerceiverMoe.Host.Tests.Bench;

/// <summary><c>upmoe bench caption</c>: the shipped demo model's batched decode, with the time until each window's
/// caption is final beside the batch's own time; with random weights, each batch's step against its floor (its
/// multiply-adds at the machine's peak, its reads at the read-only rate).</summary>
public sealed class CaptionBenchmarkSpecs
{
    [Fact]
    public async Task The_demo_model_run_should_report_each_batch_with_the_mean_time_to_a_windows_caption_within_the_batchs_time()
    {
        var output = new StringWriter();
        await CaptionBenchmark.RunAsync(new CaptionBenchmark.Options("demo", Threads: 1, Rounds: 1, BankWords: 300, DecodeBatches: [1, 4]), output);
        var text = output.ToString();

        Assert.Contains("the shipped demo model's trained weights", text);
        Assert.Contains("decode step: not reported for trained weights", text);
        foreach (int b in new[] { 1, 4 })
        {
            // | B | decode s | s per caption | mean s to a window's caption |
            var row = text.Split('\n').Single(l => l.StartsWith($"| {b} | ")).Split('|', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            double batch = double.Parse(row[1], CultureInfo.InvariantCulture), toCaption = double.Parse(row[3], CultureInfo.InvariantCulture);
            Assert.True(toCaption > 0 && toCaption <= batch, $"B = {b}: mean time to a caption {toCaption} s against the batch's {batch} s");
        }
    }

    [Fact]
    public async Task A_random_weights_run_should_report_each_batchs_step_against_the_floors_measured_beside_its_rounds()
    {
        var output = new StringWriter();
        await CaptionBenchmark.RunAsync(new CaptionBenchmark.Options("tiny", Threads: 1, Rounds: 3, BankWords: 300, DecodeBatches: [4]), output);
        var text = output.ToString();
        double Number(System.Text.RegularExpressions.Match m, int group) => double.Parse(m.Groups[group].Value, CultureInfo.InvariantCulture);

        Assert.Matches(@"multiply-add peak \d+ GFLOP/s \(1 thread, registers only\)", text);
        // B = 1 is timed even when not asked for: the decode step and every batch are set against it.
        Assert.Contains(text.Split('\n'), l => l.StartsWith("| 1 | "));
        Assert.Matches(@"machine beside the rounds: STREAM [\d.]+–[\d.]+ GB/s, read-only sum [\d.]+–[\d.]+ GB/s, multiply-add peak [\d.]+–[\d.]+ GFLOP/s", text);
        var line = text.Split('\n').Single(l => l.StartsWith("batched decode B=4: step "));
        var match = System.Text.RegularExpressions.Regex.Match(line, @"step ([\d.]+) ms \(floor ([\d.]+) ms: .* ratio ([\d.]+), per round ([\d.]+)–([\d.]+)\)");
        Assert.True(match.Success, line);
        double step = Number(match, 1), floor = Number(match, 2);
        // Tiny's steps are mostly per-op overhead: far above what its few multiply-adds and reads need.
        Assert.True(floor > 0 && step > floor, line);
        Assert.True(Number(match, 4) <= Number(match, 3) && Number(match, 3) <= Number(match, 5), $"the median ratio lies within its rounds' range: {line}");

        var floors = System.Text.RegularExpressions.Regex.Match(text,
            @"measured beside each of the 3 B=1 rounds: ratio ([\d.]+)–([\d.]+) to the STREAM floor, ([\d.]+)–([\d.]+) to the read-only floor");
        Assert.True(floors.Success, text);
        var stream = System.Text.RegularExpressions.Regex.Match(text, @"decode step: [\d.]+ ms \(memory floor [\d.]+ ms, ratio ([\d.]+)\)");
        Assert.True(stream.Success, text);
        Assert.InRange(Number(stream, 1), Number(floors, 1), Number(floors, 2));
        // The least STREAM ratio a pure read could reach is each round's STREAM ratio over its read-only ratio.
        var bound = System.Text.RegularExpressions.Regex.Match(text,
            @"the least its STREAM ratio can be here: ([\d.]+) \(rounds ([\d.]+)–([\d.]+)\), a step doing nothing but reading");
        Assert.True(bound.Success, text);
        Assert.InRange(Number(bound, 1), Number(bound, 2), Number(bound, 3));
        Assert.InRange(Number(bound, 2), Number(floors, 1) / Number(floors, 4) - 0.01, Number(floors, 2) / Number(floors, 3) + 0.01);
    }
}
