using System.Collections.Concurrent;

namespace UniPerceiverMoe.Actors.ExpertGroups;

/// <summary>
/// Fault injection for tests and chaos drills: the next N requests of a group throw. Lives outside the actor so the
/// count survives the restart that the failure causes.
/// </summary>
public sealed class ExpertGroupFaults
{
    public static readonly ExpertGroupFaults None = new();

    private readonly ConcurrentDictionary<string, int> pending = new();

    /// <summary>Makes the next <paramref name="count"/> requests to <paramref name="groupId"/> fail.</summary>
    public void FailNext(string groupId, int count) => pending.AddOrUpdate(groupId, count, (_, c) => c + count);

    internal void ThrowIfInjected(string groupId)
    {
        while (pending.TryGetValue(groupId, out var left) && left > 0)
            if (pending.TryUpdate(groupId, left - 1, left))
                throw new InvalidOperationException($"injected fault in expert group {groupId}");
    }
}
