namespace UniPerceiverMoe.Host.Inputs;

/// <summary>Label and caption lists from the command line or from files (UTF-8, one item per line; blank lines and
/// surrounding whitespace ignored).</summary>
public static class TextLists
{
    /// <summary>Comma-separated labels, e.g. "goldfish, great white shark,tree frog".</summary>
    public static IReadOnlyList<string> FromCommaList(string list, string input)
    {
        var items = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return items.Length > 0 ? items : throw new InputException(input, "no labels given");
    }

    /// <summary>One item per line of <paramref name="path"/>; <paramref name="what"/> names the kind in errors.</summary>
    public static IReadOnlyList<string> FromFile(string path, string what)
    {
        if (Directory.Exists(path)) throw new InputException(path, $"is a directory, not a {what} file");
        if (!File.Exists(path)) throw new InputException(path, $"{what} file not found");
        var lines = InputErrors.Guard(path, () => File.ReadAllLines(path))
            .Select(l => l.Trim())
            .Where(l => l.Length > 0)
            .ToArray();
        return lines.Length > 0 ? lines : throw new InputException(path, $"the {what} file has no non-blank line");
    }
}
