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
/// backend or OS) it does nothing. The ops compute the same bits serially as in parallel (a row is one task). One op
/// large enough to pay for its OpenMP team can get libtorch's count back for its duration (<see cref="Lift"/>).
/// </summary>
public static unsafe class SerialTorchOps
{
    private static readonly Lazy<nint> setThreads = new(FindOpenMpSetter);

    /// <summary>libtorch's thread count that the innermost active scope on this thread replaced (0: none).</summary>
    [ThreadStatic] private static int enteredThreads;

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
        int outer = enteredThreads;
        enteredThreads = torchThreads;
        return new Scope(torchThreads, pin, true, outer);
    }

    /// <summary>Inside <see cref="Enter"/>'s scope: libtorch's own thread count for the calling thread again, until
    /// disposed, for one op large enough to pay for waking its OpenMP team (a decode step's <c>log_softmax</c> over a
    /// full vocabulary bank). Outside such a scope it does nothing. Dispose it on the same thread, inside the scope.</summary>
    public static Lifted Lift()
    {
        if (enteredThreads <= 1) return default;
        ((delegate* unmanaged<int, void>)setThreads.Value)(enteredThreads);
        return new Lifted(true);
    }

    public readonly struct Lifted(bool active) : IDisposable
    {
        public void Dispose()
        {
            if (active) ((delegate* unmanaged<int, void>)setThreads.Value)(1);
        }
    }

    public readonly struct Scope(int torchThreads, int? previousPin, bool active, int outerEntered) : IDisposable
    {
        public void Dispose()
        {
            if (!active) return;
            enteredThreads = outerEntered;
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
