using UniPerceiverMoe.Actors.Diagnostics;
using UniPerceiverMoe.Actors.Memory;

namespace UniPerceiverMoe.Bench.Cluster;

/// <summary>
/// This process's resident memory at one moment, with what it is made of: resident pages by mapping kind
/// (<see cref="ResidentMappings"/>), the C heap's bytes (<see cref="NativeHeap.Usage"/>) and the .NET heap's committed
/// bytes. The difference of two snapshots places a growth: anonymous pages against the heaps that own them, and
/// code paged in since.
/// </summary>
internal sealed record MemoryComposition(long Resident, long ResidentFile, ResidentMappings Mappings, NativeHeapUsage? CHeap, long ManagedCommitted)
{
    public static MemoryComposition Now() =>
        new(ProcessCpu.ResidentBytes(), ProcessCpu.ResidentFileBytes(), ResidentMappings.Read(), NativeHeap.Usage(), GC.GetGCMemoryInfo().TotalCommittedBytes);

    /// <summary>
    /// One line: the growth since <paramref name="baseline"/> by kind, in MB. The anonymous growth is split into the model
    /// tensors (<paramref name="tensorBytes"/>, allocated by libtorch from the C heap), the rest of the C heap's growth in
    /// use, the .NET heap's committed growth, and what neither accounts for (thread stacks, the runtime's own data; negative
    /// where memory in use or committed is not resident: a fresh large array whose pages were never touched). Free C heap
    /// memory is printed apart: it is resident only where no trim has returned it.
    /// </summary>
    public string DescribeGrowth(MemoryComposition baseline, long tensorBytes)
    {
        static string Mb(long bytes) => $"{bytes / 1e6:+0;-0;0}";
        long Kind(MappingKind k) => Mappings[k] - baseline.Mappings[k];
        long anonymous = Kind(MappingKind.Anonymous);
        long managed = ManagedCommitted - baseline.ManagedCommitted;
        string heaps;
        if (CHeap is { } now && baseline.CHeap is { } before)
        {
            long otherInUse = now.InUse - before.InUse - tensorBytes;
            heaps = $"model tensors {Mb(tensorBytes)}, other C heap in use {Mb(otherInUse)}, .NET heap committed {Mb(managed)}, " +
                    $"not accounted by either {Mb(anonymous - tensorBytes - otherInUse - managed)}; C heap free {Mb(now.Free - before.Free)}, not counted";
        }
        else
        {
            heaps = $".NET heap committed {Mb(managed)}; the C heap's figures are not available here";
        }
        return $"growth by kind (MB): anonymous {Mb(anonymous)} ({heaps}); JIT code {Mb(Kind(MappingKind.JitCode))}; " +
               $"assemblies {Mb(Kind(MappingKind.Assemblies))}; native libraries {Mb(Kind(MappingKind.NativeLibraries))}; " +
               $"other files {Mb(Kind(MappingKind.OtherFiles))}; other {Mb(Kind(MappingKind.Other))}";
    }
}
