using UniPerceiverMoe.Host.Cli;

namespace UniPerceiverMoe.Host.Tests.Cli;

public sealed class StderrProgressSpecs
{
    private static void ReportBankBuild(StderrProgress progress)
    {
        const int total = 49411;
        for (int done = 2048; ; done += 2048)
        {
            progress.Report((Math.Min(done, total), total));
            if (done >= total) break;
        }
    }

    [Fact]
    public void Progress_off_a_terminal_should_print_one_line_per_ten_percent()
    {
        var error = new StringWriter();
        ReportBankBuild(new StderrProgress("vocabulary bank", error, terminal: false));
        var lines = error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Enumerable.Range(0, 11).Select(d => $"vocabulary bank {d * 10}%"), lines.Select(l => l[..l.IndexOf(" (", StringComparison.Ordinal)]));
        Assert.EndsWith("(49411/49411)", lines[^1]);
    }

    [Fact]
    public void Progress_on_a_terminal_should_redraw_one_line_in_place_and_end_it()
    {
        var error = new StringWriter();
        ReportBankBuild(new StderrProgress("vocabulary bank", error, terminal: true));
        string text = error.ToString();
        Assert.Equal(1, text.Count(c => c == '\n'));
        Assert.EndsWith($"100% (49411/49411){Environment.NewLine}", text);
        Assert.True(text.Count(c => c == '\r') >= 20, "the bar should be redrawn at every whole percent reached");
        Assert.Contains("[" + new string('#', 30) + "]", text);
    }

    [Fact]
    public void Progress_should_show_the_time_left_at_the_rate_seen_so_far_until_the_end()
    {
        var error = new StringWriter();
        var now = TimeSpan.Zero;
        var progress = new StderrProgress("vocabulary bank", error, terminal: false, clock: () => now);
        progress.Report((0, 100));
        now = TimeSpan.FromSeconds(10);
        progress.Report((10, 100));                 // 1 word/s: 90 s left
        now = TimeSpan.FromSeconds(40);
        progress.Report((20, 100));                 // 0.5 word/s since the start: 160 s left
        now = TimeSpan.FromSeconds(400);
        progress.Report((100, 100));
        var lines = error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["vocabulary bank 0% (0/100)", "vocabulary bank 10% (10/100, ETA 1m30s)", "vocabulary bank 20% (20/100, ETA 2m40s)",
            "vocabulary bank 100% (100/100)"], lines.Select(l => l.TrimEnd('\r')));
    }
}
