using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;

namespace UniPerceiverMoe.Bench.Processes;

/// <summary>
/// An expert node in its own OS process (<c>upmoe node</c> or any program that prints <c>node-up ADDRESS</c> on stdout
/// once Up and leaves gracefully on SIGTERM). Used by benchmarks and multi-process tests. Linux/macOS only
/// (graceful stop sends SIGTERM).
/// </summary>
public sealed class ExpertProcess : IAsyncDisposable
{
    /// <summary>The line an expert node process prints on stdout once it is Up: <c>node-up akka.tcp://upmoe@host:port</c>.</summary>
    public const string UpLinePrefix = "node-up ";

    private readonly Process process;
    private readonly TaskCompletionSource<Address> up = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private ExpertProcess(Process process)
    {
        this.process = process;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data?.StartsWith(UpLinePrefix, StringComparison.Ordinal) == true) up.TrySetResult(Address.Parse(e.Data[UpLinePrefix.Length..]));
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Log.Enqueue(e.Data); };
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => up.TrySetException(new InvalidOperationException(
            $"expert node process exited with {process.ExitCode} before it was up:\n{string.Join("\n", Log)}"));
    }

    /// <summary>The process's stderr lines (its log).</summary>
    public ConcurrentQueue<string> Log { get; } = new();

    public int Id => process.Id;

    public bool HasExited => process.HasExited;

    /// <summary>Starts <paramref name="command"/> (program, then arguments) followed by <paramref name="arguments"/>.</summary>
    public static ExpertProcess Start(IReadOnlyList<string> command, IEnumerable<string> arguments)
    {
        if (command.Count == 0) throw new ArgumentException("no command given to start an expert node.", nameof(command));
        var info = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in command.Skip(1).Concat(arguments)) info.ArgumentList.Add(a);
        var node = new ExpertProcess(Process.Start(info) ?? throw new InvalidOperationException($"could not start {command[0]}."));
        node.process.BeginOutputReadLine();
        node.process.BeginErrorReadLine();
        return node;
    }

    /// <summary>The node's cluster address once it is Up.</summary>
    public Task<Address> WhenUp(TimeSpan timeout) => up.Task.WaitAsync(timeout);

    /// <summary>kill -9: no leave; the cluster finds out through its failure detector.</summary>
    /// <summary>kill -9 of the node's process tree; returns once the process is gone (its sockets closed), so a request
    /// issued after this returns cannot be answered by the dying process.</summary>
    public void Kill()
    {
        process.Kill(entireProcessTree: true);
        process.WaitForExit(TimeSpan.FromSeconds(10));
    }

    /// <summary>SIGTERM (the node leaves gracefully and exits); killed if it has not exited within <paramref name="timeout"/>.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        if (process.HasExited) return;
        using (var term = Process.Start(new ProcessStartInfo("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])))
            if (term is null) Kill();
            else await term.WaitForExitAsync().ConfigureAwait(false);
        try { await process.WaitForExitAsync().WaitAsync(timeout).ConfigureAwait(false); }
        catch (TimeoutException) { Kill(); }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        process.Dispose();
    }
}
