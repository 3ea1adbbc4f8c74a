using System.Globalization;

namespace UniPerceiverMoe.Actors.Diagnostics;

/// <summary>What a process's resident pages map, from <c>/proc/&lt;pid&gt;/smaps</c>.</summary>
public enum MappingKind
{
    /// <summary>Unnamed anonymous memory, <c>[heap]</c> and <c>[stack]</c>: the C heap (libtorch's tensors included), the .NET
    /// GC heap, thread stacks and the runtime's own data.</summary>
    Anonymous,
    /// <summary>The JIT's code (<c>memfd:doublemapper</c>, mapped twice: once writable, once executable).</summary>
    JitCode,
    /// <summary>Managed assemblies (<c>.dll</c> files mapped by the runtime).</summary>
    Assemblies,
    /// <summary>Native shared libraries (<c>.so</c>: libtorch, libgomp, the runtime itself).</summary>
    NativeLibraries,
    /// <summary>Any other mapped file (a memory-mapped checkpoint, locale data).</summary>
    OtherFiles,
    /// <summary>The kernel's own mappings (<c>[vdso]</c>, <c>[vvar]</c>) and anything not named above.</summary>
    Other,
}

/// <summary>
/// A process's resident memory (the sum of <c>Rss</c> over its mappings, which is VmRSS up to rounding) split by what each
/// mapping holds, so a growth in resident memory can be placed: model tensors and heaps (<see cref="MappingKind.Anonymous"/>)
/// against code that was paged in (<see cref="MappingKind.JitCode"/>, <see cref="MappingKind.Assemblies"/>,
/// <see cref="MappingKind.NativeLibraries"/>). Invariant: every mapping counts under exactly one kind.
/// </summary>
public sealed class ResidentMappings
{
    private readonly long[] bytes = new long[Enum.GetValues<MappingKind>().Length];

    /// <summary>Resident bytes of one kind.</summary>
    public long this[MappingKind kind] => bytes[(int)kind];

    /// <summary>Resident bytes over all kinds.</summary>
    public long Total => bytes.Sum();

    /// <summary>This process's mappings now (<paramref name="pid"/> 0), or another's; empty where /proc is absent.</summary>
    public static ResidentMappings Read(int pid = 0)
    {
        string path = pid == 0 ? "/proc/self/smaps" : $"/proc/{pid}/smaps";
        return File.Exists(path) ? Parse(File.ReadLines(path)) : new ResidentMappings();
    }

    /// <summary>Sums the <c>Rss:</c> lines of smaps text under the kind of the mapping header above each.</summary>
    public static ResidentMappings Parse(IEnumerable<string> smaps)
    {
        var result = new ResidentMappings();
        var kind = MappingKind.Other;
        foreach (var line in smaps)
        {
            if (IsHeader(line)) kind = Classify(line);
            else if (line.StartsWith("Rss:", StringComparison.Ordinal)) result.bytes[(int)kind] += Kilobytes(line) * 1024;
        }
        return result;
    }

    /// <summary>The kind of the mapping a smaps header line describes
    /// (<c>address perms offset dev inode [pathname]</c>).</summary>
    public static MappingKind Classify(string header)
    {
        var fields = header.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
        string name = fields.Length == 6 ? fields[5].Trim() : "";
        if (name.Length == 0 || name is "[heap]" || name.StartsWith("[stack", StringComparison.Ordinal) || name.StartsWith("[anon", StringComparison.Ordinal))
            return MappingKind.Anonymous;
        if (name.Contains("doublemapper", StringComparison.Ordinal)) return MappingKind.JitCode;
        if (name.StartsWith('[')) return MappingKind.Other;
        string file = name.EndsWith(" (deleted)", StringComparison.Ordinal) ? name[..^" (deleted)".Length] : name;
        if (file.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".exe", StringComparison.OrdinalIgnoreCase))
            return MappingKind.Assemblies;
        if (file.EndsWith(".so", StringComparison.Ordinal) || file.Contains(".so.", StringComparison.Ordinal)) return MappingKind.NativeLibraries;
        return MappingKind.OtherFiles;
    }

    /// <summary>A mapping's header starts with its address range, <c>start-end</c> in hex; field lines start with a name
    /// and a colon.</summary>
    private static bool IsHeader(string line)
    {
        int dash = line.IndexOf('-');
        int space = line.IndexOf(' ');
        return dash > 0 && space > dash && line.AsSpan(0, dash).IndexOfAnyExcept("0123456789abcdef") < 0;
    }

    private static long Kilobytes(string line) =>
        long.Parse(line.AsSpan(4).Trim().TrimEnd("kB").Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture);
}
