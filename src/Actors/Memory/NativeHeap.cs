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

    [DllImport("libc", EntryPoint = "malloc_trim")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int MallocTrim(nuint pad);
}
