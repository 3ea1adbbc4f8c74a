using System.Collections.Concurrent;
using System.Diagnostics;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Model.Tasks;
using static TorchSharp.torch;

using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Bench.Processes;

namespace UniPerceiverMoe.Bench.Cluster;

/// <summary>
/// Closed-loop load for benchmarks: workers embed one image back to back. Every request issued is counted completed
/// or failed; <see cref="Timeline"/> keeps (issued, completed) times since the load started.
/// </summary>
internal sealed class BenchmarkLoad
{
    private readonly UniPerceiverEngine engine;
    private readonly Tensor image;
    private readonly int? limit;
    private readonly Task[] workers;
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private volatile bool stopping;
    private int issued, completed, failed;

    /// <summary>Starts <paramref name="concurrency"/> workers; with <paramref name="limit"/> they stop after that many requests in all.</summary>
    public BenchmarkLoad(UniPerceiverEngine engine, Tensor image, int concurrency, int? limit = null)
    {
        this.engine = engine;
        this.image = image;
        this.limit = limit;
        workers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(WorkAsync)).ToArray();
    }

    public int Completed => Volatile.Read(ref completed);
    public int Failed => Volatile.Read(ref failed);
    public TimeSpan Now => clock.Elapsed;
    public ConcurrentQueue<(TimeSpan Issued, TimeSpan Completed)> Timeline { get; } = new();

    /// <summary>Completes when a limited load has issued all its requests and they have finished.</summary>
    public Task Finished => Task.WhenAll(workers);

    /// <summary>The message of the latest failed request (failures are counted, never hidden).</summary>
    public string? LastError { get; private set; }

    public Task StopAsync()
    {
        stopping = true;
        return Finished;
    }

    private async Task WorkAsync()
    {
        while (!stopping && (limit is null || Interlocked.Increment(ref issued) <= limit))
        {
            var issuedAt = clock.Elapsed;
            try
            {
                using var feature = await engine.EmbedVisualAsync(image, EmbedTask.ImageClassification).ConfigureAwait(false);
                Timeline.Enqueue((issuedAt, clock.Elapsed));
                Interlocked.Increment(ref completed);
            }
            catch (Exception e)
            {
                LastError = e.Message;
                Interlocked.Increment(ref failed);
            }
        }
    }
}
