using System.Collections.Concurrent;
using System.Diagnostics;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Model.Tasks;
using UniPerceiverMoe.TestSupport;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>
/// Workers that embed the golden image back to back and check every result against feat.image_cls. Accounting:
/// every request issued ends up completed (right or wrong) or failed, never lost: <see cref="Issued"/> equals
/// <see cref="Completed"/> + <see cref="Failed"/> once <see cref="StopAsync"/> has returned.
/// </summary>
public sealed class RequestLoad
{
    private readonly UniPerceiverEngine engine;
    private readonly Task[] workers;
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private volatile bool stopping;
    private int issued, completed, failed, wrong;

    public RequestLoad(UniPerceiverEngine engine, int workers)
    {
        this.engine = engine;
        this.workers = Enumerable.Range(0, workers).Select(_ => Task.Run(WorkAsync)).ToArray();
    }

    public int Issued => Volatile.Read(ref issued);
    public int Completed => Volatile.Read(ref completed);
    public int Failed => Volatile.Read(ref failed);
    /// <summary>Completed requests whose feature differs from the fixture by more than <see cref="Tolerances.Features"/>.</summary>
    public int Wrong => Volatile.Read(ref wrong);
    public ConcurrentQueue<string> Errors { get; } = new();
    /// <summary>(issued, completed) times since the load started, of every completed request.</summary>
    public ConcurrentQueue<(TimeSpan Issued, TimeSpan Completed)> Timeline { get; } = new();
    public TimeSpan Now => clock.Elapsed;

    public async Task StopAsync()
    {
        stopping = true;
        await Task.WhenAll(workers);
    }

    private async Task WorkAsync()
    {
        var image = GoldenFixture.Input("image.in1k_224");
        var expected = GoldenFixture.Output("feat.image_cls");
        while (!stopping)
        {
            Interlocked.Increment(ref issued);
            var issuedAt = clock.Elapsed;
            try
            {
                using var feature = await engine.EmbedVisualAsync(image, EmbedTask.ImageClassification);
                using var diff = (feature - expected).abs().max();
                if (diff.item<float>() > Tolerances.Features) Interlocked.Increment(ref wrong);
                Timeline.Enqueue((issuedAt, clock.Elapsed));
                Interlocked.Increment(ref completed);
            }
            catch (Exception e)
            {
                Errors.Enqueue(e.Message);
                Interlocked.Increment(ref failed);
            }
        }
    }
}
