using UniPerceiverMoe.Actors.Cluster;

namespace UniPerceiverMoe.Actors.Serialization;

/// <summary>
/// The closed set of types <see cref="UpmoeMessagePackSerializer"/> reads and writes, by manifest. A manifest is a
/// short stable name (not a CLR type name), so renaming a class never changes the wire and no type is ever looked up
/// by a name that came from the network.
/// </summary>
public static class WireTypes
{
    private static readonly (string Manifest, Type Type)[] All =
    [
        ("upmoe.apply-linear", typeof(ExpertShardProtocol.ApplyLinearRequest)),
        ("upmoe.apply-ffn", typeof(ExpertShardProtocol.ApplyFfnRequest)),
        ("upmoe.apply-tail", typeof(ExpertShardProtocol.ApplyLayerTailRequest)),
        ("upmoe.apply-layer", typeof(ExpertShardProtocol.ApplyWholeLayerRequest)),
        ("upmoe.answered", typeof(ExpertShardProtocol.RequestAnswered)),
        ("upmoe.failed", typeof(ExpertShardProtocol.GroupFailed)),
        ("upmoe.get-stats", typeof(ExpertShardProtocol.GetGroupStats)),
        ("upmoe.stats", typeof(ExpertShardProtocol.GroupStats)),
        ("upmoe.probe", typeof(ExpertShardProtocol.ProbeHop)),
    ];

    private static readonly Dictionary<string, Type> ByManifest = All.ToDictionary(x => x.Manifest, x => x.Type, StringComparer.Ordinal);
    private static readonly Dictionary<Type, string> ByType = All.ToDictionary(x => x.Type, x => x.Manifest);

    public static IReadOnlyCollection<Type> Types => ByType.Keys;

    public static bool TryGetType(string manifest, out Type type) => ByManifest.TryGetValue(manifest, out type!);

    public static bool TryGetManifest(Type type, out string manifest) => ByType.TryGetValue(type, out manifest!);
}
