namespace UniPerceiverMoe.Host.Cli;

/// <summary>
/// Progress of a long step on stderr: on a terminal a bar redrawn in place (carriage return) at every whole percent;
/// otherwise one line per 10 %, so logs stay short. Reports arrive synchronously from the worker thread (unlike
/// <see cref="Progress{T}"/>, nothing is posted elsewhere), so lines appear in order and before the step returns.
/// Until the end, each line carries an ETA: the time since the first report scaled to the work left.
/// </summary>
public sealed class StderrProgress(string label, TextWriter error, bool terminal, Func<TimeSpan>? clock = null) : IProgress<(int Done, int Total)>
{
    private const int BarWidth = 30;
    private readonly Lock gate = new();
    private readonly Func<TimeSpan> elapsed = clock ?? StartClock();
    private int lastShown = -1;
    private (int Done, TimeSpan At)? first;

    public void Report((int Done, int Total) value)
    {
        var (done, total) = value;
        int percent = total <= 0 ? 100 : (int)Math.Clamp(100L * done / total, 0, 100);
        lock (gate)
        {
            var now = elapsed();
            first ??= (done, now);
            int step = terminal ? percent : percent / 10 * 10;
            if (step <= lastShown) return;
            string eta = Eta(done, total, now);
            lastShown = step;
            if (terminal)
            {
                int filled = percent * BarWidth / 100;
                error.Write($"\r{label} [{new string('#', filled)}{new string('.', BarWidth - filled)}] {percent,3}% ({done}/{total}{eta})");
                if (percent == 100) error.WriteLine();
            }
            else
            {
                error.WriteLine($"{label} {step}% ({done}/{total}{eta})");
            }
            error.Flush();
        }
    }

    private static Func<TimeSpan> StartClock()
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        return () => watch.Elapsed;
    }

    /// <summary>", ETA 1m05s" from the rate since the first report; empty at the end or before any rate is known.</summary>
    private string Eta(int done, int total, TimeSpan now)
    {
        var (firstDone, firstAt) = first!.Value;
        if (done >= total || done <= firstDone || now <= firstAt) return "";
        double left = (now - firstAt).TotalSeconds / (done - firstDone) * (total - done);
        var span = TimeSpan.FromSeconds(Math.Ceiling(left));
        return span.TotalHours >= 1 ? $", ETA {(int)span.TotalHours}h{span.Minutes:00}m" : $", ETA {span.Minutes}m{span.Seconds:00}s";
    }
}
