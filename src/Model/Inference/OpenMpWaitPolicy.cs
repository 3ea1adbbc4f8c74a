using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace UniPerceiverMoe.Model.Inference;

/// <summary>
/// How long libtorch's OpenMP threads spin after a parallel region before they sleep. libgomp's default (300,000
/// spins while there are no more threads than cores) keeps a core busy for a while after every torch op; on a small
/// machine that core is the one the next piece of work needs (the other half of a decode step's row-streaming linear,
/// an actor, the data plane, another process). With <c>GOMP_SPINCOUNT=1000</c> a MoE-B decode step took 20–25 ms
/// against 35–37 ms with the default (docs/benchmarks.md, "Small-batch linears").
/// libgomp reads the variable once, when libtorch loads, so it is set here, before any torch call: from this
/// assembly's module initializer, and first thing in <c>upmoe</c>'s Main. A user's own <c>GOMP_SPINCOUNT</c> or
/// <c>OMP_WAIT_POLICY</c> wins.
/// </summary>
public static class OpenMpWaitPolicy
{
    /// <summary>The spin count set when the user set neither variable.</summary>
    public const string DefaultSpinCount = "1000";

    /// <summary>Sets <c>GOMP_SPINCOUNT</c> for libgomp unless the user chose a wait policy. Returns false when the
    /// setting cannot take effect any more (libgomp is already loaded) or is the user's.</summary>
    public static bool Apply()
    {
        if (!OperatingSystem.IsLinux()) return false;
        if (Environment.GetEnvironmentVariable("GOMP_SPINCOUNT") is not null || Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is not null)
            return false;
        if (LibgompLoaded()) return false;
        // libgomp calls getenv, which reads the C environment: .NET's Environment.SetEnvironmentVariable does not write it.
        return setenv("GOMP_SPINCOUNT", DefaultSpinCount, 0) == 0;
    }

    // A library's module initializer (CA2255) on purpose: an embedding host touches this assembly (loading a model)
    // before libtorch loads, and this is the only hook that runs then.
#pragma warning disable CA2255
    [ModuleInitializer]
    internal static void BeforeLibtorchLoads() => Apply();
#pragma warning restore CA2255

    private static bool LibgompLoaded()
    {
        try { return File.ReadAllText("/proc/self/maps").Contains("libgomp", StringComparison.Ordinal); }
        catch (IOException) { return false; }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int setenv(string name, string value, int overwrite);
}
