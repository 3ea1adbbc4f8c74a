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
    /// <summary>Free memory kept when an arena shrinks: glibc's per-thread heap size (HEAP_MAX_SIZE, 64 MiB on 64-bit).
    /// A per-thread arena grows by whole extra heaps, and free() unmaps an emptied extra heap whatever the trim threshold
    /// unless this pad says to keep it.</summary>
    public const int RetainedPadBytes = 2 * RetainedBlockBytes;

    /// <summary>
    /// Keeps freed blocks in the malloc arenas for the next request instead of returning each to the OS at once.
    /// By default glibc unmaps a freed block at or above its mmap threshold (dynamic, from 128 KiB up to 32 MiB) and
    /// shrinks an arena whose free top exceeds the trim threshold; libtorch's activations are megabyte blocks, so
    /// every request mapped them again and took a page fault per 4 KiB page (in perf, 15–25 % of a stream engine's
    /// samples in this VM's fault path). With M_MMAP_THRESHOLD = <see cref="RetainedBlockBytes"/>,
    /// M_TRIM_THRESHOLD = <see cref="RetainedTopBytes"/> and M_TOP_PAD = <see cref="RetainedPadBytes"/>, freed memory is
    /// reused; <see cref="IdleHeapTrimmer"/> gives it back once the engine is idle (malloc_trim(0) ignores the pad).
    /// Without the pad, a thread whose arena's heap was already nearly full got a new heap for each request's blocks and
    /// lost it again at every free (NativeHeapSpecs; a fresh-clone CI run failed on it). The pad only reserves address
    /// space: pages become resident when touched. Process-wide (malloc has one set of parameters). False where there is
    /// no glibc mallopt: nothing was done.
    /// </summary>
    public static bool RetainFreedMemory()
    {
        if (unavailable || !OperatingSystem.IsLinux()) return false;
        try
        {
            return MallOpt(MmapThreshold, RetainedBlockBytes) == 1 & MallOpt(TrimThreshold, RetainedTopBytes) == 1
                   & MallOpt(TopPad, RetainedPadBytes) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            unavailable = true;
            return false;
        }
    }

    /// <summary>The C heap's bytes now, over all arenas (glibc <c>mallinfo2</c>), or null where it is not available.
    /// Free bytes are kept by malloc for reuse; a trim returns their pages, so they need not be resident.</summary>
    public static NativeHeapUsage? Usage()
    {
        if (unavailable || !OperatingSystem.IsLinux()) return null;
        try
        {
            var info = MallInfo2();
            return new NativeHeapUsage((long)(info.Uordblks + info.Hblkhd), (long)info.Fordblks, (long)info.Hblkhd);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;   // glibc older than 2.33 has no mallinfo2; trim and mallopt may still work
        }
    }

    private const int TrimThreshold = -1, TopPad = -2, MmapThreshold = -3;   // M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD (malloc.h)

    [DllImport("libc", EntryPoint = "mallopt")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int MallOpt(int param, int value);

    /// <summary>glibc's <c>struct mallinfo2</c>: ten size_t fields, in this order.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct MallInfo2Fields
    {
        public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
    }

    [DllImport("libc", EntryPoint = "mallinfo2")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern MallInfo2Fields MallInfo2();

    [DllImport("libc", EntryPoint = "malloc_trim")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int MallocTrim(nuint pad);
}

/// <param name="InUse">Bytes handed out by malloc and not freed: arena chunks plus blocks mapped on their own.</param>
/// <param name="Free">Freed bytes the arenas keep for reuse.</param>
/// <param name="Mapped">The part of <paramref name="InUse"/> in blocks mapped on their own (above the mmap threshold).</param>
public sealed record NativeHeapUsage(long InUse, long Free, long Mapped);
