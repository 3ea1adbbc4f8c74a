using Akka.Actor;
using UniPerceiverMoe.Actors.Diagnostics;
using UniPerceiverMoe.Model.Inference;

namespace UniPerceiverMoe.Actors.Engine;

/// <summary>
/// Sequence executors run the non-expert parts of the model (embeddings, norms, attention, dense layers, heads,
/// decoding) for one request at a time, asking the expert groups at every MoE linear. Each runs on its own pinned
/// thread because it blocks while expert asks are in flight. In-process only: the work is a closure.
/// </summary>
public static class SequenceExecutorProtocol
{
    /// <summary>Run <paramref name="Work"/> on the executor's runner; replied with <see cref="Completed"/> or a failure.</summary>
    public sealed record Execute(Func<UniPerceiverRunner, object?> Work, string Description, CancellationToken Cancellation)
        : INoSerializationVerificationNeeded;

    public sealed record Completed(object? Result) : INoSerializationVerificationNeeded;

    public static Props Props(UniPerceiverRunner runner, EngineCounters counters) =>
        Akka.Actor.Props.Create(() => new SequenceExecutorActor(runner, counters)).WithDispatcher("upmoe-sequence-dispatcher");
}

/// <summary>Executes requests one at a time; a failing request is answered with its error and the actor keeps serving.</summary>
public sealed class SequenceExecutorActor : ReceiveActor
{
    public SequenceExecutorActor(UniPerceiverRunner runner, EngineCounters counters)
    {
        Receive<SequenceExecutorProtocol.Execute>(request =>
        {
            if (request.Cancellation.IsCancellationRequested)
            {
                Sender.Tell(new Status.Failure(new OperationCanceledException($"{request.Description} was cancelled before it started.")));
                return;
            }
            // Every counter of a request is written before its reply goes out: whoever has the reply sees them.
            long startedCpu = ThreadCpu.Nanoseconds();
            object reply;
            try
            {
                reply = new SequenceExecutorProtocol.Completed(request.Work(runner));
                counters.RequestsCompleted.Increment();
            }
            catch (Exception e)
            {
                reply = new Status.Failure(e);
                counters.RequestsFailed.Increment();
            }
            counters.SequenceCpuMicros.Add(ThreadCpu.MicrosecondsSince(startedCpu));
            Sender.Tell(reply);
        });
    }
}
