using UniPerceiverMoe.Actors.Dispatch;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Model.Modules;
using UniPerceiverMoe.Model.Tokenization;

namespace UniPerceiverMoe.Actors.Engine;

/// <summary>Programmatic extras for <see cref="UniPerceiverEngine.Start"/> and <see cref="UniPerceiverEngine.StartIn"/>; everything else comes from HOCON.</summary>
public sealed record EngineStartOptions
{
    /// <summary>The engine's name: its root actor is <c>/user/{Name}</c>, so engines sharing an actor system need
    /// different names; null = <see cref="UniPerceiverEngine.DefaultName"/>.</summary>
    public string? Name { get; init; }

    /// <summary>An already loaded model to serve (shared, not disposed by the engine); null = load upmoe.engine.checkpoint.</summary>
    public UniPerceiverMoeModel? Model { get; init; }

    /// <summary>Path of the checkpoint behind <see cref="Model"/> (keys the vocabulary-bank cache).</summary>
    public string? CheckpointPath { get; init; }

    /// <summary>A tokenizer to use instead of loading the CLIP vocabulary.</summary>
    public ClipTokenizer? Tokenizer { get; init; }

    /// <summary>A placement to use instead of upmoe.placement.</summary>
    public PlacementPlan? Plan { get; init; }

    /// <summary>
    /// How the dispatcher reaches expert groups; null = every group of the plan runs in this process (embedded). Called
    /// once with the engine's actor system (a cluster member when the config selects provider = cluster), e.g. by
    /// <c>ClusterFrontend</c> to dispatch through a shard region.
    /// </summary>
    public ExpertTransportFactory? ExpertTransport { get; init; }

    /// <summary>Fault injection for tests and drills.</summary>
    public ExpertGroupFaults? Faults { get; init; }

    /// <summary>Progress lines (checkpoint load, bank build) for a human; null = silent.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>Restrict captioning to these token ids (constrained decoding; must include &lt;|endoftext|&gt;): the
    /// bank is built in memory from them. Null = the full vocabulary, cached on disk per checkpoint.</summary>
    public IReadOnlyList<long>? CaptionVocabulary { get; init; }

    /// <summary>Vocabulary bank build progress (done, total).</summary>
    public IProgress<(int Done, int Total)>? BankProgress { get; init; }
}
