using Akka.Actor;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Actors.Tests.ExpertGroups;
using UniPerceiverMoe.Model.Inference;
using UniPerceiverMoe.TestSupport;
using static UniPerceiverMoe.Actors.Engine.SequenceExecutorProtocol;

namespace UniPerceiverMoe.Actors.Tests.Engine;

/// <summary>One <see cref="SequenceExecutorActor"/> on its own pinned thread: work in, its result or its error out,
/// one request at a time, and no failure stops it.</summary>
public sealed class SequenceExecutorActorSpecs() : Akka.TestKit.Xunit2.TestKit(ActorSpecConfig.Config)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private readonly EngineCounters counters = new();

    private IActorRef StartExecutor() => Sys.ActorOf(Props(GoldenModel.Runner, counters), "executor");

    [Fact]
    public void SequenceExecutor_should_run_the_work_on_its_runner_and_reply_the_result()
    {
        var executor = StartExecutor();
        UniPerceiverRunner? seen = null;
        executor.Tell(new Execute(runner => { seen = runner; return 42; }, "answer", CancellationToken.None));
        Assert.Equal(42, ExpectMsg<Completed>(Wait).Result);
        Assert.NotNull(seen);
        Assert.Same(GoldenModel.Model, seen!.Model);
        Assert.Equal((1L, 0L), (counters.RequestsCompleted.Value, counters.RequestsFailed.Value));
    }

    [Fact]
    public void SequenceExecutor_should_count_the_cpu_its_requests_use_and_not_their_waiting()
    {
        var executor = StartExecutor();
        executor.Tell(new Execute(_ => { Thread.Sleep(300); return 0; }, "waits", CancellationToken.None));
        ExpectMsg<Completed>(Wait);
        long waited = counters.SequenceCpuMicros.Value;
        executor.Tell(new Execute(_ => BusyWork.Spin(TimeSpan.FromMilliseconds(300)), "works", CancellationToken.None));
        ExpectMsg<Completed>(Wait);
        long worked = counters.SequenceCpuMicros.Value - waited;
        // Half the sleep, not near zero: the first request also pays the executor's JIT, and a GC may land on its thread.
        Assert.InRange(waited, 0, 150_000);
        Assert.InRange(worked, 20_000, 2_000_000);             // a share of 300 ms however loaded the machine; never more
        Assert.Equal(worked + waited, counters.Snapshot()["sequence_cpu_microseconds"]);
    }

    [Fact]
    public void SequenceExecutor_should_reply_a_failing_works_error_and_keep_serving()
    {
        var executor = StartExecutor();
        Watch(executor);
        executor.Tell(new Execute(_ => throw new InvalidDataException("bad frame"), "broken", CancellationToken.None));
        Assert.Equal("bad frame", Assert.IsType<InvalidDataException>(ExpectMsg<Status.Failure>(Wait).Cause).Message);
        executor.Tell(new Execute(_ => "next", "after the failure", CancellationToken.None));
        Assert.Equal("next", ExpectMsg<Completed>(Wait).Result);
        Assert.Equal((1L, 1L), (counters.RequestsCompleted.Value, counters.RequestsFailed.Value));
        ExpectNoMsg(TimeSpan.FromMilliseconds(100));             // not stopped, not restarted: no Terminated
    }

    [Fact]
    public void SequenceExecutor_should_refuse_work_cancelled_before_it_starts_without_running_it()
    {
        var executor = StartExecutor();
        bool ran = false;
        executor.Tell(new Execute(_ => ran = true, "caption of frame 7", new CancellationToken(canceled: true)));
        var cause = Assert.IsType<OperationCanceledException>(ExpectMsg<Status.Failure>(Wait).Cause);
        Assert.Contains("caption of frame 7", cause.Message);
        Assert.False(ran);
        Assert.Equal((0L, 0L), (counters.RequestsCompleted.Value, counters.RequestsFailed.Value));
    }

    [Fact]
    public void SequenceExecutor_should_run_requests_one_at_a_time_in_arrival_order_on_one_thread()
    {
        var executor = StartExecutor();
        int running = 0, most = 0;
        var threads = new HashSet<int>();
        object Work(int i)
        {
            int now = Interlocked.Increment(ref running);
            most = Math.Max(most, now);
            lock (threads) threads.Add(Environment.CurrentManagedThreadId);
            Thread.Sleep(20);                                       // long enough for a second request to overlap if it could
            Interlocked.Decrement(ref running);
            return i;
        }
        for (int i = 0; i < 5; i++)
        {
            int n = i;
            executor.Tell(new Execute(_ => Work(n), $"request {n}", CancellationToken.None));
        }
        Assert.Equal([0, 1, 2, 3, 4], Enumerable.Range(0, 5).Select(_ => (int)ExpectMsg<Completed>(Wait).Result!));
        Assert.Equal(1, most);
        Assert.Single(threads);                                     // its pinned thread
    }
}
