using System.Text.RegularExpressions;
using UniPerceiverMoe.Model;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Placement;

/// <summary>
/// Expert group → torch device ("cpu", "cuda", "cuda:N") for the groups one process hosts. Every group of the plan
/// has exactly one device; a group computes there (its weights and merged routes live there). Immutable.
/// </summary>
public sealed partial class DeviceAssignment
{
    private readonly Dictionary<string, int> slots;

    private DeviceAssignment(Dictionary<string, int> slots, IReadOnlyList<string> devices)
    {
        this.slots = slots;
        Devices = devices;
    }

    /// <summary>The devices groups were spread over, in configuration order.</summary>
    public IReadOnlyList<string> Devices { get; }

    public IReadOnlyDictionary<string, string> ByGroup => slots.ToDictionary(s => s.Key, s => Devices[s.Value]);

    /// <summary>The device of <paramref name="groupId"/>; an unknown group is an error naming it.</summary>
    public string Of(string groupId) => Devices[SlotOf(groupId)];

    /// <summary>The index in <see cref="Devices"/> of <paramref name="groupId"/>'s device (tells apart two slots on one device).</summary>
    public int SlotOf(string groupId) =>
        slots.TryGetValue(groupId, out var slot) ? slot : throw new ArgumentException($"expert group '{groupId}' has no device assignment.", nameof(groupId));

    /// <summary>The torch device of <paramref name="groupId"/>.</summary>
    public Device DeviceOf(string groupId) => new(Of(groupId));

    /// <summary>Bytes of the expert parameters (float32 weights and biases) assigned to each device.</summary>
    public IReadOnlyDictionary<string, long> BytesPerDevice(PlacementPlan plan, Func<ExpertKey, long> expertBytes) =>
        Devices.Distinct().ToDictionary(d => d, d => plan.Groups.Where(g => Of(g.Id) == d).Sum(g => g.Experts.Sum(expertBytes)));

    /// <summary>
    /// Spreads the groups of <paramref name="plan"/> over <paramref name="devices"/> balanced by expert bytes: largest
    /// group first, each to the device with the fewest bytes so far (ties: the earlier device in the list). A device may
    /// be listed twice (two slots on one device). Deterministic, so every process computes the same assignment.
    /// </summary>
    public static DeviceAssignment Balance(PlacementPlan plan, IReadOnlyList<string> devices, Func<ExpertKey, long> expertBytes)
    {
        if (devices.Count == 0) throw new ArgumentException("at least one device is needed.", nameof(devices));
        foreach (var d in devices) Validate(d, "devices");
        var load = new long[devices.Count];
        var slots = new Dictionary<string, int>();
        var ordered = plan.Groups.Select((g, i) => (Group: g, Index: i, Bytes: g.Experts.Sum(expertBytes)))
            .OrderByDescending(x => x.Bytes).ThenBy(x => x.Index);
        foreach (var (group, _, bytes) in ordered)
        {
            int slot = 0;
            for (int i = 1; i < load.Length; i++)
                if (load[i] < load[slot]) slot = i;
            load[slot] += bytes;
            slots[group.Id] = slot;
        }
        return new DeviceAssignment(slots, devices.ToArray());
    }

    /// <summary>Every group of <paramref name="plan"/> on <paramref name="device"/>.</summary>
    public static DeviceAssignment All(PlacementPlan plan, string device) => Balance(plan, [device], _ => 0);

    /// <summary>Float32 bytes of one (layer, expert) pair: its slice of every MoE linear of the layer (weights and biases).</summary>
    public static Func<ExpertKey, long> ExpertBytes(UniPerceiverConfig config)
    {
        long d = config.Hidden, f = config.Ffn;
        long attention = config.MoeAttention ? (3 * d * d + 3 * d) + (d * d + d) : 0;   // qkv_proj, dense
        long ffn = config.MoeFfn ? (f * d + f) + (d * f + d) : 0;                        // linear1, linear2
        long bytes = (attention + ffn) * sizeof(float);
        return _ => bytes;
    }

    /// <summary>Checks a device name ("cpu", "cuda", "cuda:N"); <paramref name="key"/> names the setting in the error.</summary>
    public static string Validate(string device, string key) =>
        DeviceName().IsMatch(device) ? device
            : throw new ArgumentException($"{key}: device '{device}' is not one of cpu, cuda, cuda:N.");

    /// <summary>One line per device: its groups and expert bytes, for logs and the CLI.</summary>
    public string Describe(PlacementPlan plan, Func<ExpertKey, long> expertBytes)
    {
        var bytes = BytesPerDevice(plan, expertBytes);
        return "devices:" + string.Concat(Devices.Distinct().Select(d => Environment.NewLine +
            $"  {d}: {plan.Groups.Count(g => Of(g.Id) == d)} group(s), {bytes[d] / (1024.0 * 1024.0):0.0} MiB of experts"));
    }

    [GeneratedRegex(@"^(cpu|cuda(:\d+)?)$")]
    private static partial Regex DeviceName();
}

/// <summary>
/// The devices of an expert node, whose groups come and go (sharding starts, hands off and re-homes them): a group
/// starting on the node takes the device holding the fewest expert bytes among the groups there now (ties: the earlier
/// device), and gives it back when it stops. Thread-safe.
/// </summary>
public sealed class DeviceBalancer
{
    private readonly object gate = new();
    private readonly string[] devices;
    private readonly long[] load;
    private readonly Func<ExpertKey, long> expertBytes;
    private readonly Dictionary<string, (int Slot, long Bytes)> held = new();

    public DeviceBalancer(IReadOnlyList<string> devices, Func<ExpertKey, long> expertBytes)
    {
        if (devices.Count == 0) throw new ArgumentException("at least one device is needed.", nameof(devices));
        foreach (var d in devices) DeviceAssignment.Validate(d, "devices");
        this.devices = devices.ToArray();
        load = new long[devices.Count];
        this.expertBytes = expertBytes;
    }

    public IReadOnlyList<string> Devices => devices;

    /// <summary>The device for <paramref name="group"/>, which now counts on it (the same one while it holds it).</summary>
    public string Acquire(ExpertGroupSpec group)
    {
        lock (gate)
        {
            if (held.TryGetValue(group.Id, out var existing)) return devices[existing.Slot];
            int slot = 0;
            for (int i = 1; i < load.Length; i++)
                if (load[i] < load[slot]) slot = i;
            long bytes = group.Experts.Sum(expertBytes);
            load[slot] += bytes;
            held[group.Id] = (slot, bytes);
            return devices[slot];
        }
    }

    /// <summary>The device <paramref name="groupId"/> holds; an error naming it when it holds none.</summary>
    public string Of(string groupId)
    {
        lock (gate)
            return held.TryGetValue(groupId, out var h) ? devices[h.Slot]
                : throw new InvalidOperationException($"expert group '{groupId}' holds no device on this node.");
    }

    /// <summary>Gives <paramref name="groupId"/>'s device back (nothing when it holds none).</summary>
    public void Release(string groupId)
    {
        lock (gate)
            if (held.Remove(groupId, out var h)) load[h.Slot] -= h.Bytes;
    }

    /// <summary>Group → device for the groups on the node now.</summary>
    public IReadOnlyDictionary<string, string> Snapshot()
    {
        lock (gate) return held.ToDictionary(h => h.Key, h => devices[h.Value.Slot]);
    }
}
