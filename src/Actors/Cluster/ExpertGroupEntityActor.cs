using Akka.Actor;
using Akka.Event;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Serialization;
using UniPerceiverMoe.Model.Routing;
using static UniPerceiverMoe.Actors.Cluster.ExpertShardProtocol;
using Local = UniPerceiverMoe.Actors.ExpertGroups.ExpertGroupProtocol;

namespace UniPerceiverMoe.Actors.Cluster;

/// <summary>
/// The shard entity of one expert group: turns wire requests into in-process <see cref="Local.Compute"/> for a
/// child <see cref="ExpertGroupActor"/> (which caches merged routes) and encodes its replies. The group's weights are
/// loaded once per incarnation and survive restarts of the child; they are freed when the entity stops (hand-off,
/// node leaving). Every request gets exactly one reply: a result or a <see cref="GroupFailed"/>; on hand-off the
/// entity stops only when no request is in flight.
/// </summary>
public sealed class ExpertGroupEntityActor : ReceiveActor
{
    /// <summary>The dispatcher of shard entities (defined in hocon/reference.conf): requests that come over Akka are
    /// computed on its threads.</summary>
    public const string PoolDispatcher = "upmoe-expert-pool-dispatcher";

    /// <summary>The dispatcher of an entity's group: caller-runs (defined in hocon/reference.conf).</summary>
    public const string GroupDispatcher = "upmoe-expert-dispatcher";

    private readonly string groupId;
    private readonly ExpertNodeContext context;
    private readonly ILoggingAdapter log = Context.GetLogger();
    private IActorRef? group;
    private string unavailable = "";
    private IExpertWeightSource? weights;
    private TorchSharp.torch.Device device = TorchSharp.torch.CPU;
    private int inFlight;
    private bool stopping;

    public ExpertGroupEntityActor(string groupId, ExpertNodeContext context)
    {
        this.groupId = groupId;
        this.context = context;
        Receive<IComputeRequest>(Apply);
        Receive<ProbeHop>(Apply);
        Receive<GetGroupStats>(_ => Stats());
        Receive<Answered>(Done);
        Receive<StopGroup>(_ =>
        {
            stopping = true;
            if (group is not null)
            {
                // Hand-off: no new data-plane request reaches the group after this, and the stop message queues behind
                // those that did, so each is answered before the group stops (then Terminated lets this entity stop).
                context.Direct?.Close(groupId, group);
                group.Tell(PoisonPill.Instance);
            }
            StopIfIdle();
        });
        Receive<Terminated>(t =>
        {
            if (!t.ActorRef.Equals(group)) return;
            context.Direct?.Close(groupId, group);
            group = null;
            if (unavailable.Length == 0) unavailable = $"expert group {groupId} stopped";
            StopIfIdle();
        });
    }

    protected override void PreStart()
    {
        context.Counters.EntityStarts.Increment();
        var spec = context.Plan.Groups.FirstOrDefault(g => g.Id == groupId);
        if (spec is null)
        {
            unavailable = $"expert group '{groupId}' is not in this node's placement ({context.Plan.Strategy}, {context.Plan.Groups.Count} groups)";
            log.Warning(unavailable);
            return;
        }
        // The child calls this at every (re)start; only one child exists at a time, so the field is never raced.
        // It computes on the thread that delivers a request (caller-runs): a data-plane connection's thread, or this
        // entity's own, which runs on the expert pool (see ExpertGroupSharding), never on Akka's default dispatcher.
        var deviceName = context.Devices.Acquire(spec);
        device = new TorchSharp.torch.Device(deviceName);
        group = Context.ActorOf(Local.Props(spec, s => weights ??= context.LoadWeights(s), deviceName, context.Faults, GroupDispatcher, context.MergeCache), "group");
        Context.Watch(group);
        context.Direct?.Register(groupId, group, device);
    }

    protected override void PostStop()
    {
        // However this entity stopped, the data plane must not deliver to its (now stopped) group any more.
        if (group is not null) context.Direct?.Close(groupId, group);
        // Children have stopped by now: nothing reads the weights any more.
        (weights as IDisposable)?.Dispose();
        weights = null;
        context.Devices.Release(groupId);
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(e =>
    {
        if (e is ActorInitializationException)
        {
            unavailable = $"expert group {groupId} could not load its weights: {e.InnerException?.Message ?? e.Message}";
            log.Error(e, unavailable);
            return Directive.Stop;
        }
        context.Counters.EntityRestarts.Increment();
        return Directive.Restart;
    });

    private void Apply(IGroupEnvelope request)
    {
        var replyTo = Sender;
        if (group is null)
        {
            Reply(replyTo, new GroupFailed(groupId, unavailable));
            return;
        }
        Local.IExpertGroupMessage local;
        try
        {
            local = GroupRequests.ToLocal(request, device!);
        }
        catch (Exception e)
        {
            Reply(replyTo, new GroupFailed(groupId, $"expert group {groupId} could not read its input: {e.Message}"));
            return;
        }
        // The group owns the message's tensors from here (it releases them when it has computed).
        AskGroup(replyTo, local, GroupRequests.Describe(request));
    }

    /// <summary>Sends one request to the group and replies to <paramref name="replyTo"/> once it has answered.</summary>
    private void AskGroup(IActorRef replyTo, Local.IExpertGroupMessage request, string site)
    {
        inFlight++;
        group!.Ask<Local.Computed>(request, context.ComputeTimeout)
            .ContinueWith(t =>
            {
                if (!t.IsCompletedSuccessfully)
                {
                    var error = t.Exception?.GetBaseException();
                    return new Answered(replyTo, new GroupFailed(groupId, error is AskTimeoutException
                        ? $"expert group {groupId} did not compute {site} within {context.ComputeTimeout.TotalSeconds:0.#} s"
                        : error?.Message ?? "cancelled"));
                }
                using var output = t.Result.Output;
                return new Answered(replyTo, new RequestAnswered(TensorPayloads.FromTensor(output, context.WireDtype), context.DataEndpoint));
            }, TaskScheduler.Default)
            .PipeTo(Self);
    }

    private void Done(Answered answered)
    {
        inFlight--;
        Reply(answered.ReplyTo, answered.Reply);
        StopIfIdle();
    }

    private void Reply(IActorRef replyTo, IUpmoeWireMessage reply)
    {
        if (reply is GroupFailed) context.Counters.EntityFailures.Increment();
        else context.Counters.EntityRequests.Increment();
        replyTo.Tell(reply);
    }

    private void Stats()
    {
        if (group is null)
        {
            Sender.Tell(new GroupFailed(groupId, unavailable));
            return;
        }
        group.Ask<Local.GroupCounters>(Local.GetStats.Instance, context.ComputeTimeout)
            .ContinueWith(t => t.IsCompletedSuccessfully
                ? (object)new GroupStats(groupId, context.Node, t.Result.Requests, t.Result.Tokens, t.Result.MergedRoutes, t.Result.ComputeTime.TotalSeconds, t.Result.Device,
                    t.Result.ComputeCpu.TotalSeconds)
                : new GroupFailed(groupId, t.Exception?.GetBaseException().Message ?? "cancelled"), TaskScheduler.Default)
            .PipeTo(Sender);
    }

    private void StopIfIdle()
    {
        if (stopping && inFlight == 0 && group is null) Context.Stop(Self);
    }

    /// <summary>A finished computation, back on the entity's thread (never crosses nodes).</summary>
    private sealed record Answered(IActorRef ReplyTo, IUpmoeWireMessage Reply) : INoSerializationVerificationNeeded;
}
