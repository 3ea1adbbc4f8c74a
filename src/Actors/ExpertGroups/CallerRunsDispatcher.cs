using Akka.Configuration;
using Akka.Dispatch;

namespace UniPerceiverMoe.Actors.ExpertGroups;

/// <summary>
/// A dispatcher that runs an actor's mailbox on the thread that sends to it. Used for in-process expert groups:
/// the sequence executor's pinned thread then does the expert GEMMs itself, so all torch work of a request stays on
/// one OS thread (one OpenMP team: no spin-wait contention between teams on small machines) and a hop costs a
/// mailbox enqueue instead of a thread wake-up. Actor semantics are kept: the mailbox still processes one message at
/// a time; a sender that finds the mailbox busy on another thread leaves its message to that thread.
/// Configure with <c>type = "UniPerceiverMoe.Actors.ExpertGroups.CallerRunsDispatcherConfigurator, UniPerceiverMoe.Actors"</c>.
/// </summary>
public sealed class CallerRunsDispatcher(MessageDispatcherConfigurator configurator) : MessageDispatcher(configurator)
{
    protected override void ExecuteTask(IRunnable run) => run.Run();

    protected override void Shutdown()
    {
    }
}

/// <summary>HOCON configurator for <see cref="CallerRunsDispatcher"/> (one shared instance per dispatcher id).</summary>
public sealed class CallerRunsDispatcherConfigurator : MessageDispatcherConfigurator
{
    private readonly MessageDispatcher instance;

    public CallerRunsDispatcherConfigurator(Config config, IDispatcherPrerequisites prerequisites) : base(config, prerequisites) =>
        instance = new CallerRunsDispatcher(this);

    public override MessageDispatcher Dispatcher() => instance;
}
