using System.Text.RegularExpressions;
using UniPerceiverMoe.Bench.Streams;
using UniPerceiverMoe.Streams.Tests.Support;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Streams.Tests.Bench;

/// <summary>The benchmark's logic on a tiny budget (its numbers are not checked: they depend on the machine).</summary>
public sealed class StreamBenchmarkSpecs(StreamEngine host, ITestOutputHelper output) : IClassFixture<StreamEngine>
{
    [Fact]
    public async Task Benchmark_should_ramp_levels_and_end_with_the_summary_line()
    {
        var text = new StringWriter();
        var options = new StreamBenchmarkOptions
        {
            Settings = StreamEngine.Settings("upmoe.streams.hop = 500ms"),
            Duration = TimeSpan.FromSeconds(2),
            WarmUp = TimeSpan.FromSeconds(1),
            MaxStreams = 2,
            Width = 64,
            Height = 48,
            MaxP99 = TimeSpan.FromMinutes(1), // generous: this checks the ramp and the accounting, not the machine
            MaxDropRate = 1,
        };

        var result = await StreamBenchmark.RunAsync(host.Engine, options, text).WaitAsync(TimeSpan.FromSeconds(60));

        output.WriteLine(text.ToString());
        var lines = text.ToString().Trim().Split('\n').Select(l => l.Trim()).ToArray();
        Assert.StartsWith("warm-up (not counted): 1 stream for 1 s, 1 windows", lines[1], StringComparison.Ordinal);
        Assert.Contains(lines, l => l.StartsWith("streams   1:", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("streams   2:", StringComparison.Ordinal));
        Assert.Matches(new Regex(@"^sustained streams: \d+, p99 latency: \d+ ms, drop rate: \d+\.\d\d %$"), lines[^1]);
        Assert.Equal(2, result.Streams);
        Assert.Equal(2 * 3, result.WindowsIn); // 60 frames per stream: windows start at frames 0, 15, 30 (span 25)
        Assert.Equal(result.WindowsIn, result.Captioned + result.Dropped + result.Failed);
    }
}
