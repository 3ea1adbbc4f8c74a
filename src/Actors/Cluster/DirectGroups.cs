using System.Collections.Concurrent;
using Akka.Actor;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Cluster;

/// <summary>
/// The expert groups running on this node that its data plane may reach without the shard region: each entity
/// registers its group actor once the group has started and closes the entry before it hands the group off, so a
/// request either reaches the live group or is told to take the region's way (which knows where the group is now).
/// Groups on an expert node run on the caller-runs dispatcher, so a <see cref="TryTell"/> from a data-plane thread
/// computes on that thread when the group is idle: one thread wake-up per hop on this side.
/// </summary>
public sealed class DirectGroups
{
    private readonly ConcurrentDictionary<string, Entry> groups = new(StringComparer.Ordinal);

    /// <summary>Makes <paramref name="group"/> (computing on <paramref name="device"/>) reachable as <paramref name="groupId"/>
    /// (replacing a closed entry).</summary>
    public void Register(string groupId, IActorRef group, Device device) => groups[groupId] = new Entry(group, device);

    /// <summary>
    /// Closes <paramref name="groupId"/>'s entry if it still names <paramref name="group"/>. When this returns, every
    /// message delivered through <see cref="TryTell"/> is in the group's mailbox, so a stop message sent afterwards is
    /// processed after all of them.
    /// </summary>
    public void Close(string groupId, IActorRef group)
    {
        if (!groups.TryGetValue(groupId, out var entry) || !entry.Group.Equals(group)) return;
        lock (entry) entry.Closed = true;
        groups.TryRemove(new KeyValuePair<string, Entry>(groupId, entry));
    }

    /// <summary>Whether <paramref name="groupId"/> is reachable here now (it may close before a <see cref="TryTell"/>),
    /// and the device its inputs go to.</summary>
    public bool TryGet(string groupId, out Device device)
    {
        device = null!;
        if (!groups.TryGetValue(groupId, out var entry) || entry.Closed) return false;
        device = entry.Device;
        return true;
    }

    /// <summary>Delivers <paramref name="message"/> to the group with <paramref name="replyTo"/> as its sender; false
    /// (nothing delivered) when the group is not, or no longer, reachable here.</summary>
    public bool TryTell(string groupId, object message, IActorRef replyTo)
    {
        if (!groups.TryGetValue(groupId, out var entry)) return false;
        lock (entry)
        {
            if (entry.Closed) return false;
            entry.Group.Tell(message, replyTo);
            return true;
        }
    }

    private sealed class Entry(IActorRef group, Device device)
    {
        public IActorRef Group { get; } = group;
        public Device Device { get; } = device;
        public volatile bool Closed;
    }
}
