using System.Globalization;

namespace UniPerceiverMoe.Actors.Placement;

/// <summary>
/// Replica n of group G is the group <c>G-r{n}</c>. Base ids never contain "-r" followed only by digits (planner ids
/// are built from letters, digits and '+'), so the suffix is unambiguous. Sharding keys replicas of one group to
/// sibling shards and spreads them over nodes (<see cref="Cluster.ReplicaSpreadingAllocationStrategy"/>).
/// </summary>
public static class ReplicaIds
{
    private const string Marker = "-r";

    public static string Of(string baseId, int replica) => $"{baseId}{Marker}{replica.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The base id and replica index of a replica id; false for a group that is not a replica.</summary>
    public static bool TryParse(string id, out string baseId, out int replica)
    {
        int at = id.LastIndexOf(Marker, StringComparison.Ordinal);
        if (at > 0 && at + Marker.Length < id.Length && id.AsSpan(at + Marker.Length).IndexOfAnyExceptInRange('0', '9') < 0 &&
            int.TryParse(id.AsSpan(at + Marker.Length), NumberStyles.None, CultureInfo.InvariantCulture, out replica))
        {
            baseId = id[..at];
            return true;
        }
        (baseId, replica) = (id, 0);
        return false;
    }
}
