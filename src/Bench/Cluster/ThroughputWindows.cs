using UniPerceiverMoe.Actors.Diagnostics;

namespace UniPerceiverMoe.Bench.Cluster;

/// <summary>
/// With <c>UPMOE_BENCH_WINDOWS</c> set, prints one line per second of a measured phase: requests completed and the CPU
/// milliseconds per request of this process and of each peer process in that second. A phase that is still warming up
/// (JIT tiering, a cold cache) shows as a rising rate; the whole-phase figure alone hides it.
/// </summary>
internal sealed class ThroughputWindows : IAsyncDisposable
{
    private readonly CancellationTokenSource stop = new();
    private readonly Task printing;

    private ThroughputWindows(BenchmarkLoad load, IReadOnlyList<int> peers, TextWriter output) =>
        printing = Task.Run(() => PrintAsync(load, peers, output, stop.Token));

    /// <summary>Starts printing when the variable is set; null otherwise.</summary>
    public static ThroughputWindows? StartIfAsked(BenchmarkLoad load, IReadOnlyList<int> peers, TextWriter output) =>
        Environment.GetEnvironmentVariable("UPMOE_BENCH_WINDOWS") is null ? null : new ThroughputWindows(load, peers, output);

    private static async Task PrintAsync(BenchmarkLoad load, IReadOnlyList<int> peers, TextWriter output, CancellationToken stop)
    {
        int completed = load.Completed;
        double local = ProcessCpu.Seconds();
        var peer = peers.Select(pid => ProcessCpu.Seconds(pid)).ToArray();
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), stop).ConfigureAwait(false);
                int nowCompleted = load.Completed;
                double nowLocal = ProcessCpu.Seconds();
                var nowPeer = peers.Select(pid => ProcessCpu.Seconds(pid)).ToArray();
                int n = Math.Max(1, nowCompleted - completed);
                var peerMs = nowPeer.Select((seconds, i) => (1e3 * (seconds - peer[i]) / n).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture));
                output.WriteLine($"  window: {nowCompleted - completed} requests/s; CPU ms per request: this process {1e3 * (nowLocal - local) / n:0.00}" +
                    (peers.Count > 0 ? $", peers {string.Join(" + ", peerMs)}" : ""));
                (completed, local, peer) = (nowCompleted, nowLocal, nowPeer);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync().ConfigureAwait(false);
        await printing.ConfigureAwait(false);
        stop.Dispose();
    }
}
