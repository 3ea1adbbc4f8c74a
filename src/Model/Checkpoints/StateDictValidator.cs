// Strict state-dict check (as torch's load_state_dict(strict=True)): every difference is reported in one exception.
namespace UniPerceiverMoe.Model.Checkpoints;

public static class StateDictValidator
{
    /// <summary>How many key names each list shows before "and N more".</summary>
    public const int MaxListedKeys = 20;

    /// <summary>Checks <paramref name="actual"/> against <paramref name="expectedShapes"/>: no missing keys (except those in
    /// <paramref name="optionalKeys"/>), no unexpected keys, identical shapes.</summary>
    /// <exception cref="CheckpointException">Lists the missing, unexpected and wrong-shape keys of <paramref name="path"/>.</exception>
    public static void Validate(IReadOnlyDictionary<string, long[]> expectedShapes, StateDict actual, string path, ISet<string>? optionalKeys = null) =>
        Validate(expectedShapes, actual.Shapes(), path, optionalKeys);

    /// <summary>As above, for shapes alone (e.g. a safetensors index read without the data).</summary>
    public static void Validate(IReadOnlyDictionary<string, long[]> expectedShapes, IReadOnlyDictionary<string, long[]> actualShapes, string path, ISet<string>? optionalKeys = null)
    {
        var missing = expectedShapes.Keys.Where(k => !actualShapes.ContainsKey(k) && optionalKeys?.Contains(k) != true)
            .Order(StringComparer.Ordinal).ToList();
        var unexpected = actualShapes.Keys.Where(k => !expectedShapes.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var wrong = expectedShapes
            .Where(kv => actualShapes.TryGetValue(kv.Key, out var s) && !s.SequenceEqual(kv.Value))
            .OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => $"{kv.Key} (checkpoint [{string.Join(", ", actualShapes[kv.Key])}], model [{string.Join(", ", kv.Value)}])")
            .ToList();
        if (missing.Count + unexpected.Count + wrong.Count == 0) return;
        var parts = new List<string>();
        if (missing.Count > 0) parts.Add($"{missing.Count} missing key(s): {List(missing)}");
        if (unexpected.Count > 0) parts.Add($"{unexpected.Count} unexpected key(s): {List(unexpected)}");
        if (wrong.Count > 0) parts.Add($"{wrong.Count} wrong shape(s): {List(wrong)}");
        throw new CheckpointException($"{path}: state dict does not match the model: {string.Join("; ", parts)}.");
    }

    private static string List(IReadOnlyList<string> names) =>
        names.Count <= MaxListedKeys
            ? string.Join(", ", names)
            : $"{string.Join(", ", names.Take(MaxListedKeys))} and {names.Count - MaxListedKeys} more";
}
