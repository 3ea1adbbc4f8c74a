using UniPerceiverMoe.Streams.Settings;
using Akka;
using Akka.Actor;
using Akka.Streams;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Streams.Flows;

namespace UniPerceiverMoe.Streams.Tests.Flows;

/// <summary>The buffer between a fast producer and a consumer that is held shut until the producer has pushed
/// everything (a gate, not a sleep), so what is dropped is determined by the policy alone.</summary>
public sealed class OverloadBufferSpecs : IAsyncLifetime
{
    private const int Elements = 100;
    private readonly ActorSystem system = ActorSystem.Create("overload-buffer-specs");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await system.Terminate();

    private sealed record Run(List<int> Out, List<int> Dropped, int MaxOccupancy);

    private async Task<Run> RunGated(OverloadPolicy policy, int capacity)
    {
        var dropped = new List<int>();
        int maxOccupancy = 0, pushed = 0;
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var output = await Source.From(Enumerable.Range(0, Elements))
            .Select(i =>
            {
                if (++pushed == Elements) gate.TrySetResult();
                return i;
            })
            .Via(Flow.FromGraph(new OverloadBuffer<int>(capacity, policy, dropped.Add, n => maxOccupancy = Math.Max(maxOccupancy, n))))
            .SelectAsync(1, async i =>
            {
                await gate.Task;
                return i;
            })
            .RunWith(Sink.Seq<int>(), system.Materializer())
            .WaitAsync(TimeSpan.FromSeconds(10));
        return new Run(output.ToList(), dropped, maxOccupancy);
    }

    [Fact]
    public async Task Drop_oldest_should_count_every_drop_and_keep_the_newest_windows()
    {
        var run = await RunGated(OverloadPolicy.DropOldest, capacity: 3);

        Assert.Equal(Elements, run.Out.Count + run.Dropped.Count);
        Assert.NotEmpty(run.Dropped);
        Assert.InRange(run.MaxOccupancy, 1, 3);
        Assert.Equal([97, 98, 99], run.Out.TakeLast(3));
        Assert.Equal(run.Out.Order(), run.Out);
        Assert.Equal(run.Dropped.Order(), run.Dropped); // oldest first
    }

    [Fact]
    public async Task Keep_latest_should_hold_one_window_whatever_the_capacity()
    {
        var run = await RunGated(OverloadPolicy.KeepLatest, capacity: 5);

        Assert.Equal(Elements, run.Out.Count + run.Dropped.Count);
        Assert.Equal(1, run.MaxOccupancy);
        Assert.Equal(99, run.Out[^1]);
        Assert.True(run.Out.Count <= 3, $"keep-latest passed {run.Out.Count} elements");
    }

    [Fact]
    public async Task Backpressure_should_drop_nothing_and_stay_within_capacity()
    {
        var dropped = new List<int>();
        int maxOccupancy = 0;
        var output = await Source.From(Enumerable.Range(0, Elements))
            .Via(Flow.FromGraph(new OverloadBuffer<int>(3, OverloadPolicy.Backpressure, dropped.Add, n => maxOccupancy = Math.Max(maxOccupancy, n))))
            .SelectAsync(1, async i =>
            {
                await Task.Yield();
                return i;
            })
            .RunWith(Sink.Seq<int>(), system.Materializer())
            .WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(Enumerable.Range(0, Elements), output);
        Assert.Empty(dropped);
        Assert.InRange(maxOccupancy, 0, 3);
    }

    [Fact]
    public async Task Cancelled_stream_should_count_its_buffered_windows_as_dropped()
    {
        var dropped = new List<int>();
        int pushed = 0, passed = 0;
        var allPushed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var neverOpens = new TaskCompletionSource<int>();
        var (killSwitch, done) = Source.From(Enumerable.Range(0, 10)).Concat(Source.Never<int>())
            .Select(i =>
            {
                if (++pushed == 10) allPushed.TrySetResult();
                return i;
            })
            .Via(Flow.FromGraph(new OverloadBuffer<int>(4, OverloadPolicy.DropOldest, dropped.Add, _ => { })))
            .Select(i => { passed++; return i; })
            .ViaMaterialized(KillSwitches.Single<int>(), Keep.Right)
            .SelectAsync(1, _ => neverOpens.Task)
            .ToMaterialized(Sink.Ignore<int>(), Keep.Both)
            .Run(system.Materializer());
        await allPushed.Task.WaitAsync(TimeSpan.FromSeconds(10));

        killSwitch.Abort(new OperationCanceledException("stream removed"));
        var error = await Assert.ThrowsAnyAsync<Exception>(() => done.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("stream removed", error.ToString());

        Assert.Equal(10, passed + dropped.Count);
        Assert.Equal(9, dropped.Count); // 1 passed into the stalled stage; 5 overload drops + the 4 still buffered
    }
}
