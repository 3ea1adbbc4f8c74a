using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using Akka.Actor;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>
/// An expert node in its own OS process (tests/UniPerceiverMoe.ClusterNode). Ready once it prints "node-up ADDRESS";
/// <see cref="Kill"/> is kill -9; <see cref="StopAsync"/> closes stdin, which makes the node leave gracefully and exit.
/// </summary>
public sealed class NodeProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly TaskCompletionSource<Address> up = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private NodeProcess(Process process)
    {
        this.process = process;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data?.StartsWith("node-up ", StringComparison.Ordinal) == true) up.TrySetResult(Address.Parse(e.Data["node-up ".Length..]));
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Log.Enqueue(e.Data); };
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => up.TrySetException(new InvalidOperationException(
            $"expert node process exited with {process.ExitCode} before it was up:\n{string.Join("\n", Log)}"));
    }

    /// <summary>The node's stderr (its log).</summary>
    public ConcurrentQueue<string> Log { get; } = new();

    public int Id => process.Id;

    public static NodeProcess Start(IEnumerable<string> configFiles, IEnumerable<string> settings)
    {
        var dll = typeof(NodeProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "ClusterNodeDll").Value!;
        if (!File.Exists(dll)) throw new FileNotFoundException($"{dll} not found: build the solution (dotnet build) before running the tests.", dll);
        var info = new ProcessStartInfo(DotnetHost()) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(dll);
        foreach (var f in configFiles) { info.ArgumentList.Add("--config"); info.ArgumentList.Add(f); }
        foreach (var s in settings) { info.ArgumentList.Add("--set"); info.ArgumentList.Add(s); }
        var node = new NodeProcess(Process.Start(info) ?? throw new InvalidOperationException("could not start the expert node process."));
        node.process.BeginOutputReadLine();
        node.process.BeginErrorReadLine();
        return node;
    }

    /// <summary>The node's address once it is Up in the cluster.</summary>
    public Task<Address> WhenUp(TimeSpan timeout) => up.Task.WaitAsync(timeout);

    /// <summary>kill -9: no leave, no goodbye; the cluster must notice through its failure detector.</summary>
    public void Kill() => process.Kill(entireProcessTree: true);

    /// <summary>Graceful stop: stdin closes, the node leaves the cluster and exits (killed if it takes over 30 s).</summary>
    public async Task StopAsync()
    {
        if (process.HasExited) return;
        process.StandardInput.Close();
        try { await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30)); }
        catch (TimeoutException) { Kill(); }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        process.Dispose();
    }

    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host
        : Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self
        : "dotnet";
}
