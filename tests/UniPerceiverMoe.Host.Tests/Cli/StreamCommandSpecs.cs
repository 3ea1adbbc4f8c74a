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

    [Fact]
    public async Task Stream_classify_and_watch_should_print_the_json_contract_and_a_balanced_summary()
    {
        var video = CliHarness.TestVideo(CliHarness.TempDir());          // 2 s testsrc at 25 fps
        // Threshold -1: every cosine reaches it, so each query's alert starts on the first window and never stops.
        var run = await CliHarness.RunAsync(["stream", .. CliHarness.Engine(), "--video", video, "--json", "--hop", "1s",
            "--task", "classify", "--task", "watch", "--labels", "a test pattern,a dog,a cat", "--query", "a clock", "--query", "a person falls",
            "--threshold=-1"]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        var all = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        var classified = all.Where(e => e.TryGetProperty("task", out var t) && t.GetString() == "classify").ToArray();
        Assert.NotEmpty(classified);
        foreach (var e in classified)
        {
            Assert.Equal("0", e.GetProperty("stream").GetString());
            var labels = e.GetProperty("labels").EnumerateArray().ToArray();
            Assert.Equal(3, labels.Length);
            Assert.Equal(1.0, labels.Sum(l => l.GetProperty("score").GetDouble()), 4);
            Assert.Equal(labels.Select(l => l.GetProperty("score").GetDouble()).OrderDescending(), labels.Select(l => l.GetProperty("score").GetDouble()));
        }
        var alerts = Assert.Single(all, e => e.TryGetProperty("task", out var t) && t.GetString() == "watch");
        Assert.Equal(0, alerts.GetProperty("window").GetInt64());
        Assert.Equal(["a clock", "a person falls"], alerts.GetProperty("alerts").EnumerateArray().Select(a => a.GetProperty("query").GetString()));
        Assert.All(alerts.GetProperty("alerts").EnumerateArray(), a => Assert.Equal("start", a.GetProperty("event").GetString()));
        var summary = Assert.Single(all, e => e.TryGetProperty("summary", out _)).GetProperty("summary");
        Assert.Equal(classified.Length, summary.GetProperty("done").GetInt64());
        Assert.Equal(summary.GetProperty("windows_in").GetInt64(),
            summary.GetProperty("done").GetInt64() + summary.GetProperty("dropped").GetInt64() + summary.GetProperty("failed").GetInt64());
    }

    [Fact]
    public async Task Stream_match_should_rank_its_texts_per_window_and_match_a_text_feed_against_the_windows()
    {
        var dir = CliHarness.TempDir();
        var video = CliHarness.TestVideo(dir);                            // 2 s testsrc at 25 fps
        var feed = Path.Combine(dir, "feed.txt");
        await File.WriteAllTextAsync(feed, "a clock\na person falls\n");
        var run = await CliHarness.RunAsync(["stream", .. CliHarness.Engine(), "--video", video, "--json", "--hop", "1s",
            "--task", "match", "--texts", "a clock,a dog,a test pattern", "--text-feed", feed]);
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        var all = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        var windows = all.Where(e => e.TryGetProperty("matches", out _)).ToArray();
        Assert.NotEmpty(windows);
        foreach (var e in windows)
        {
            Assert.Equal("match", e.GetProperty("task").GetString());
            var scores = e.GetProperty("matches").EnumerateArray().Select(m => m.GetProperty("score").GetDouble()).ToArray();
            Assert.Equal(3, scores.Length);
            Assert.Equal(scores.OrderDescending(), scores);
        }
        var texts = all.Where(e => e.TryGetProperty("text", out _) && e.TryGetProperty("line", out _)).ToArray();
        Assert.Equal(["a clock", "a person falls"], texts.Select(e => e.GetProperty("text").GetString()));
        Assert.All(texts, e => Assert.Equal(feed, e.GetProperty("stream").GetString()));
        Assert.All(texts, e => Assert.Equal(JsonValueKind.Array, e.GetProperty("windows").ValueKind));
        var summary = Assert.Single(all, e => e.TryGetProperty("summary", out _)).GetProperty("summary");
        Assert.Equal(["match"], summary.GetProperty("tasks").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal(windows.Length, summary.GetProperty("done").GetInt64());
    }

    [Fact]
    public async Task Stream_classify_without_labels_should_be_a_clear_argument_error()
    {
        var video = CliHarness.TestVideo(CliHarness.TempDir());
        var run = await CliHarness.RunAsync(["stream", .. CliHarness.Engine(), "--video", video, "--task", "classify"]);
        output.WriteLine(run.ToString());
        Assert.Equal(2, run.ExitCode);
        Assert.Contains(run.ErrLines, l => l.Contains("--task", StringComparison.Ordinal) && l.Contains("labels", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_image_folder_feed_should_be_classified_end_to_end_while_a_bad_folder_fails_alone()
    {
        var dir = CliHarness.TempDir();
        var good = Directory.CreateDirectory(Path.Combine(dir, "good")).FullName;
        for (int i = 0; i < 6; i++)
        {
            var rgb = new byte[32 * 32 * 3];
            for (int p = 0; p < rgb.Length; p++) rgb[p] = (byte)(p * (i + 3) % 251);
            await File.WriteAllBytesAsync(Path.Combine(good, $"frame{i:D2}.png"), UniPerceiverMoe.TestSupport.PngWriter.EncodeRgb(rgb, 32, 32));
        }
        var bad = Directory.CreateDirectory(Path.Combine(dir, "bad")).FullName;
        await File.WriteAllBytesAsync(Path.Combine(bad, "broken.png"), [1, 2, 3, 4]);
        // 1 fps, window 4 (stride 8 at 30 fps is 1 frame at 1 fps), hop 1 s: six images make three windows.
        var run = await CliHarness.RunAsync(["stream", .. CliHarness.Engine(), "--images", good, "--images", bad, "--fps", "1", "--json",
            "--task", "classify", "--labels", "a pattern,a dog"]);
        output.WriteLine(run.ToString());
        Assert.Equal(1, run.ExitCode);
        Assert.Single(run.ErrLines, l => l.StartsWith("upmoe: error:", StringComparison.Ordinal) && l.Contains("broken.png", StringComparison.Ordinal));
        var all = run.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal([0L, 1L, 2L], all.Where(e => e.TryGetProperty("task", out _) && e.GetProperty("stream").GetString() == "0")
            .Select(e => e.GetProperty("window").GetInt64()));
        var summaries = all.Where(e => e.TryGetProperty("summary", out _)).Select(e => e.GetProperty("summary")).ToArray();
        Assert.Equal(2, summaries.Length);
        Assert.Equal((3L, 3L), (summaries[0].GetProperty("windows_in").GetInt64(), summaries[0].GetProperty("done").GetInt64()));
        Assert.Contains("broken.png", summaries[1].GetProperty("error").GetString());
    }
}
