using Akka.Actor;
using UniPerceiverMoe.Model.Decoding;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Engine;

/// <summary>
/// The messages of an engine's root actor (<c>/user/{engine name}</c>): the parent of the engine's expert host and
/// sequence executors, and the peer that other actors of the same actor system ask for work.
/// </summary>
public static class EngineRootProtocol
{
    /// <summary>Captions <paramref name="Pixels"/> ([3, S, S] or [T, 3, S, S]); replied with an <see cref="EngineCaption"/>
    /// or a <see cref="Status.Failure"/>. In-process only: the sender keeps the tensor alive until the reply.</summary>
    public sealed record Caption(Tensor Pixels, CaptionOptions? Options = null) : INoSerializationVerificationNeeded;

    /// <summary>Internal: starts a child (replied with its <see cref="IActorRef"/>).</summary>
    internal sealed record Spawn(Props Props, string Name) : INoSerializationVerificationNeeded;
}

/// <summary>Owns the engine's actors (stopping it stops them all) and serves <see cref="EngineRootProtocol"/> requests
/// through the engine, which is attached once it has started (requests before that fail with a clear error).</summary>
internal sealed class EngineRootActor : ReceiveActor
{
    public EngineRootActor(Func<IUniPerceiverEngine?> engine)
    {
        Receive<EngineRootProtocol.Spawn>(m => Sender.Tell(Context.ActorOf(m.Props, m.Name)));
        Receive<EngineRootProtocol.Caption>(m =>
        {
            if (engine() is not { } started)
            {
                Sender.Tell(new Status.Failure(new InvalidOperationException($"engine '{Self.Path.Name}' is still starting.")));
                return;
            }
            started.CaptionAsync(m.Pixels, m.Options).PipeTo(Sender, success: c => c, failure: e => new Status.Failure(e));
        });
    }
}
