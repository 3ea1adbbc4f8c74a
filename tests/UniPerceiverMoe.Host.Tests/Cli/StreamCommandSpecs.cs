using System.Text.Json;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Host.Tests.Cli;

/// <summary><c>upmoe stream</c>: captions as windows complete, one JSON line each; a bad stream is one clear error.</summary>
[Collection(CliCollection.Name)]
[Trait("Category", "Golden")]
public sealed class StreamCommandSpecs(ITestOutputHelper output)
{
    [Fact]
    public async Task Stream_should_print_one_json_caption_per_window_in_order_and_balanced_stats()
    {
        var video = CliHarness.TestVideo(CliHarness.TempDir());          // 2 s at 25 fps
        var run = await CliHarness.RunAsync(["stream", .. CliHarness.Engine(), "--video", video, "--json", "--hop", "1s"]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        var all = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        var lines = all.Where(e => !e.TryGetProperty("summary", out _)).ToArray();
        Assert.True(lines.Length >= 1, "at least one window of a 2 s video must be captioned");
        Assert.All(lines, e => Assert.Equal("caption", e.GetProperty("task").GetString()));
        Assert.All(lines, e => Assert.False(string.IsNullOrEmpty(e.GetProperty("caption").GetString())));
        var summary = Assert.Single(all, e => e.TryGetProperty("summary", out _)).GetProperty("summary");
        Assert.Equal(summary.GetProperty("windows_in").GetInt64(),
            summary.GetProperty("done").GetInt64() + summary.GetProperty("dropped").GetInt64() + summary.GetProperty("failed").GetInt64());
        Assert.Equal(lines.Length, summary.GetProperty("done").GetInt64());
        var starts = lines.Select(e => e.GetProperty("window").GetInt64()).ToArray();
        Assert.Equal(starts.Order(), starts);
        Assert.Contains(run.ErrLines, l => l.Contains("failed 0", StringComparison.Ordinal) && l.Contains("dropped 0", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_corrupt_stream_should_fail_alone_with_one_error_line_while_a_good_one_is_captioned()
    {
        var dir = CliHarness.TempDir();
        var good = CliHarness.TestVideo(dir);
        var corrupt = Path.Combine(dir, "corrupt.mp4");
        await File.WriteAllBytesAsync(corrupt, Enumerable.Range(0, 4096).Select(i => (byte)(i * 37 % 251)).ToArray());
        var run = await CliHarness.RunAsync(["stream", .. CliHarness.Engine(), "--video", good, "--video", corrupt, "--json"]);
        output.WriteLine(run.ToString());
        Assert.Equal(1, run.ExitCode);
        Assert.Single(run.ErrLines, l => l.StartsWith("upmoe: error:", StringComparison.Ordinal) && l.Contains("corrupt.mp4", StringComparison.Ordinal));
        Assert.NotEmpty(run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
