using System.Runtime.InteropServices;

namespace UniPerceiverMoe.Model.Modules;

/// <summary>
/// A scope in which libtorch's ops on the calling thread run serially while the hand-written kernels keep their
/// threads. A decode step makes ~25 LayerNorms and a few other ops over 2–32 rows; libtorch splits each over its
/// OpenMP team (LayerNorm's grain is one row), and each such region wakes a sleeping OpenMP thread and joins it, which
/// costs more than the op and lands on the core the kernels' worker needs. Only this thread's OpenMP thread count
/// (libgomp's per-thread <c>nthreads-var</c>) is set to one, through libgomp's own <c>omp_set_num_threads</c>, so
/// other threads and libtorch's process-wide setting are untouched; the kernels' parallelism is pinned to what it
/// was (<see cref="KernelThreads.Pin"/>). Restored on dispose; nests. Without a loaded libgomp (another threading
/// backend or OS) it does nothing. The ops compute the same bits serially as in parallel (a row is one task).
/// </summary>
public static unsafe class SerialTorchOps
{
    private static readonly Lazy<nint> setThreads = new(FindOpenMpSetter);

    /// <summary>Enters the scope on the calling thread; dispose it on the same thread.</summary>
    public static Scope Enter()
    {
        nint set = setThreads.Value;
        if (set == 0) return default;
        // libtorch's count for this thread; the call also runs libtorch's one-time per-thread setup, which would
        // otherwise reset the thread's OpenMP count at its first parallel op inside the scope.
        int torchThreads = TorchSharp.torch.get_num_threads();
        if (torchThreads <= 1) return default;
        var pin = KernelThreads.Pin(Math.Min(torchThreads, Environment.ProcessorCount));
        ((delegate* unmanaged<int, void>)set)(1);
        return new Scope(torchThreads, pin, true);
    }

    public readonly struct Scope(int torchThreads, int? previousPin, bool active) : IDisposable
    {
        public void Dispose()
        {
            if (!active) return;
            ((delegate* unmanaged<int, void>)setThreads.Value)(torchThreads);
            KernelThreads.Pin(previousPin);
        }
    }

    /// <summary>libgomp's omp_set_num_threads, from the copy libtorch loaded (its file name carries a build hash, so
    /// it is found in /proc/self/maps); zero when there is none.</summary>
    private static nint FindOpenMpSetter()
    {
        if (!OperatingSystem.IsLinux()) return 0;
        _ = TorchSharp.torch.get_num_threads();                     // make sure libtorch (and its libgomp) is loaded
        string? path;
        try
        {
            path = File.ReadLines("/proc/self/maps").Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(fields => fields.Length >= 6 && Path.GetFileName(fields[5]).StartsWith("libgomp", StringComparison.Ordinal))
                .Select(fields => fields[5]).FirstOrDefault();
        }
        catch (IOException)
        {
            return 0;
        }
        if (path is null || !NativeLibrary.TryLoad(path, out var library)) return 0;
        return NativeLibrary.TryGetExport(library, "omp_set_num_threads", out var set) ? set : 0;
    }
}
