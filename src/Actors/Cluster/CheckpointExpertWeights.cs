using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Placement;
using UniPerceiverMoe.Model.Checkpoints;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Cluster;

/// <summary>
/// Cluster mode: the experts of one group, read from the node's own checkpoint file. Only the group's expert tensors
/// are read (the loader's key filter: other tensors' bytes are never touched, so a group of MoE-B reads ~1/12 of the
/// file) and moved to the device; a node holds only the experts of the groups it hosts. Owns its tensors.
/// </summary>
public sealed class CheckpointExpertWeights : IExpertWeightSource, IDisposable
{
    private readonly Dictionary<(MoeSite Site, int Expert), (Tensor Weight, Tensor Bias)> experts;

    private CheckpointExpertWeights(string groupId, Dictionary<(MoeSite, int), (Tensor, Tensor)> experts)
    {
        GroupId = groupId;
        this.experts = experts;
    }

    public string GroupId { get; }

    /// <summary>Bytes held (weights and biases of every MoE linear of the group's experts).</summary>
    public long Bytes => experts.Values.Sum(t => t.Weight.NumberOfElements * t.Weight.ElementSize + t.Bias.NumberOfElements * t.Bias.ElementSize);

    /// <summary>
    /// Loads the experts of <paramref name="group"/> from <paramref name="checkpointPath"/> onto <paramref name="device"/>.
    /// Every MoE linear of each (layer, expert) present in the file is kept; a pair with no MoE linear at all fails
    /// with a <see cref="CheckpointException"/> naming the keys it looked for.
    /// </summary>
    public static CheckpointExpertWeights Load(string checkpointPath, ExpertGroupSpec group, Device? device = null)
    {
        var taken = new Dictionary<(MoeSite, int), (Tensor, Tensor)>();
        try
        {
            var wanted = new HashSet<string>(StringComparer.Ordinal);
            foreach (var key in group.Experts)
                foreach (var kind in Enum.GetValues<MoeLinearKind>())
                {
                    string prefix = ExpertPrefix(new MoeSite(key.Layer, kind), key.Expert);
                    wanted.Add(prefix + ".weight");
                    wanted.Add(prefix + ".bias");
                }
            using var stateDict = CheckpointLoader.Load(checkpointPath, include: wanted.Contains);
            foreach (var key in group.Experts)
            {
                int found = 0;
                foreach (var kind in Enum.GetValues<MoeLinearKind>())
                {
                    var site = new MoeSite(key.Layer, kind);
                    string prefix = ExpertPrefix(site, key.Expert);
                    if (!stateDict.ContainsKey(prefix + ".weight")) continue;
                    using var w = stateDict.Take(prefix + ".weight");
                    using var b = stateDict.Take(prefix + ".bias");
                    taken[(site, key.Expert)] = (w.to(device ?? CPU, copy: true), b.to(device ?? CPU, copy: true));
                    found++;
                }
                if (found == 0)
                    throw new CheckpointException($"{checkpointPath}: expert group {group.Id} needs {key} but the checkpoint has no " +
                        $"fused_encoder.layers.{key.Layer}.*.experts.deepspeed_experts.{key.Expert}.weight key.");
            }
            return new CheckpointExpertWeights(group.Id, taken);
        }
        catch
        {
            foreach (var (w, b) in taken.Values) { w.Dispose(); b.Dispose(); }
            throw;
        }
    }

    private static string ExpertPrefix(MoeSite site, int expert) => $"{site.KeyPrefix}.experts.deepspeed_experts.{expert}";

    public (Tensor Weight, Tensor Bias) Expert(MoeSite site, int expert) =>
        experts.TryGetValue((site, expert), out var t) ? t
            : throw new ArgumentException($"expert group {GroupId} has no weights for expert {expert} at {site}.");

    public void Dispose()
    {
        foreach (var (w, b) in experts.Values) { w.Dispose(); b.Dispose(); }
        experts.Clear();
    }
}
