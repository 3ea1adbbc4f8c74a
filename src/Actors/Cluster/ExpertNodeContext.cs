using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Actors.Serialization;

namespace UniPerceiverMoe.Actors.Cluster;

/// <summary>What every expert-group entity of one node shares. Immutable; <see cref="LoadWeights"/> must be thread-safe.</summary>
/// <param name="Plan">The placement: entity id → the group's experts. Must equal the frontends' plan.</param>
/// <param name="LoadWeights">Loads a group's experts (once per incarnation of the entity, on the expert dispatcher).</param>
/// <param name="WireDtype">Element type of replies on the wire.</param>
/// <param name="ComputeTimeout">Safety net for one local computation (the frontend's own timeouts are shorter).</param>
/// <param name="Devices">The node's devices: a starting group acquires one (its weights live and its inputs are placed
/// there) and releases it when it stops (upmoe.placement.devices).</param>
/// <param name="Node">This node's address, reported in <see cref="ExpertShardProtocol.GroupStats"/>.</param>
/// <param name="DataEndpoint">This node's data-plane "host:port" (null: none), sent with every result.</param>
/// <param name="Direct">Where entities register their running groups for the data plane (null: no data plane).</param>
/// <param name="MergeCache">Byte budget of each group's merged-weight cache (null: unbounded).</param>
public sealed record ExpertNodeContext(
    PlacementPlan Plan,
    Func<ExpertGroupSpec, IExpertWeightSource> LoadWeights,
    WireDtype WireDtype,
    TimeSpan ComputeTimeout,
    DeviceBalancer Devices,
    ExpertGroupFaults Faults,
    ClusterCounters Counters,
    string Node,
    string? DataEndpoint = null,
    DirectGroups? Direct = null,
    MergeCacheLimit? MergeCache = null);
