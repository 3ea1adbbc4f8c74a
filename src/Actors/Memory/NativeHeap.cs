using System.Runtime.InteropServices;

namespace UniPerceiverMoe.Actors.Memory;

/// <summary>The process's C heap (glibc malloc, which libtorch's CPU allocator uses).</summary>
public static class NativeHeap
{
    private static volatile bool unavailable;

    /// <summary>Returns the free pages of every malloc arena to the OS (glibc <c>malloc_trim(0)</c>). False where
    /// there is no glibc (not Linux, or a libc without malloc_trim): nothing was done.</summary>
    public static bool Trim()
    {
        if (unavailable || !OperatingSystem.IsLinux()) return false;
        try
        {
            MallocTrim(0);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            unavailable = true;
            return false;
        }
    }

    /// <summary>glibc's largest mmap threshold (HEAP_MAX_SIZE / 2 on 64-bit): blocks below it come from the arenas.</summary>
    public const int RetainedBlockBytes = 32 << 20;
    /// <summary>Free memory an arena keeps at its top before free() itself shrinks it.</summary>
    public const int RetainedTopBytes = 1 << 30;

    /// <summary>
    /// Keeps freed blocks in the malloc arenas for the next request instead of returning each to the OS at once.
    /// By default glibc unmaps a freed block at or above its mmap threshold (dynamic, from 128 KiB up to 32 MiB) and
    /// shrinks an arena whose free top exceeds the trim threshold; libtorch's activations are megabyte blocks, so
    /// every request mapped them again and took a page fault per 4 KiB page (in perf, 15–25 % of a stream engine's
    /// samples in this VM's fault path). With M_MMAP_THRESHOLD = <see cref="RetainedBlockBytes"/> and
    /// M_TRIM_THRESHOLD = <see cref="RetainedTopBytes"/>, freed memory is reused; <see cref="IdleHeapTrimmer"/>
    /// gives it back once the engine is idle. Process-wide (malloc has one set of parameters). False where there is
    /// no glibc mallopt: nothing was done.
    /// </summary>
    public static bool RetainFreedMemory()
    {
        if (unavailable || !OperatingSystem.IsLinux()) return false;
        try
        {
            return MallOpt(MmapThreshold, RetainedBlockBytes) == 1 & MallOpt(TrimThreshold, RetainedTopBytes) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            unavailable = true;
            return false;
        }
    }

    private const int TrimThreshold = -1, MmapThreshold = -3;   // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD (malloc.h)

    [DllImport("libc", EntryPoint = "mallopt")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int MallOpt(int param, int value);

    [DllImport("libc", EntryPoint = "malloc_trim")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int MallocTrim(nuint pad);
}
