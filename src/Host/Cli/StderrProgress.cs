namespace UniPerceiverMoe.Host.Cli;

/// <summary>
/// Progress of a long step on stderr: on a terminal a bar redrawn in place (carriage return) at every whole percent;
/// otherwise one line per 10 %, so logs stay short. Reports arrive synchronously from the worker thread (unlike
/// <see cref="Progress{T}"/>, nothing is posted elsewhere), so lines appear in order and before the step returns.
/// </summary>
public sealed class StderrProgress(string label, TextWriter error, bool terminal) : IProgress<(int Done, int Total)>
{
    private const int BarWidth = 30;
    private readonly Lock gate = new();
    private int lastShown = -1;

    public void Report((int Done, int Total) value)
    {
        var (done, total) = value;
        int percent = total <= 0 ? 100 : (int)Math.Clamp(100L * done / total, 0, 100);
        lock (gate)
        {
            int step = terminal ? percent : percent / 10 * 10;
            if (step <= lastShown) return;
            lastShown = step;
            if (terminal)
            {
                int filled = percent * BarWidth / 100;
                error.Write($"\r{label} [{new string('#', filled)}{new string('.', BarWidth - filled)}] {percent,3}% ({done}/{total})");
                if (percent == 100) error.WriteLine();
            }
            else
            {
                error.WriteLine($"{label} {step}% ({done}/{total})");
            }
            error.Flush();
        }
    }
}
