// Starts ffmpeg / ffprobe child processes with every stream redirected and drains stderr asynchronously into a
// bounded tail, so a full stderr pipe can never stall the child and errors can quote its last lines.
using System.ComponentModel;
using System.Diagnostics;

namespace UniPerceiverMoe.Model.Preprocessing;

internal sealed class FfmpegProcess : IDisposable
{
    private const int TailLines = 20;
    private readonly Queue<string> _tail = new();
    private readonly Task _stderrPump;

    public Process Process { get; }

    private FfmpegProcess(Process process)
    {
        Process = process;
        _stderrPump = Task.Run(PumpStderrAsync);
    }

    /// <summary>Starts <paramref name="program"/> with <paramref name="args"/> (no shell). A program that cannot be
    /// started surfaces as an <see cref="InvalidOperationException"/> that says how to install FFmpeg.</summary>
    public static FfmpegProcess Start(string program, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            CreateNoWindow = true,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process? p;
        try
        {
            p = Process.Start(psi);
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException(
                $"'{program}' could not be started ({e.Message}). FFmpeg is required for video input: install it " +
                "(Debian/Ubuntu: apt-get install -y ffmpeg) or point FfmpegOptions at the ffmpeg/ffprobe binaries.", e);
        }
        if (p is null) throw new InvalidOperationException($"'{program}' could not be started");
        p.StandardInput.Close(); // ffmpeg must never wait on a terminal
        return new FfmpegProcess(p);
    }

    /// <summary>The last stderr lines seen so far, joined with " | " (empty when stderr said nothing).</summary>
    public string StderrTail()
    {
        lock (_tail) return string.Join(" | ", _tail);
    }

    /// <summary>Waits until stderr is fully read (call after the process exited) and returns its tail.</summary>
    public async Task<string> FinalStderrTailAsync()
    {
        await _stderrPump.ConfigureAwait(false);
        return StderrTail();
    }

    /// <summary>Kills the process tree if it still runs (consumer stopped early or was cancelled).</summary>
    public void KillIfRunning()
    {
        try
        {
            if (!Process.HasExited) Process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Exited between the check and the kill.
        }
    }

    private async Task PumpStderrAsync()
    {
        try
        {
            while (await Process.StandardError.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                if (line.Length == 0) continue;
                lock (_tail)
                {
                    _tail.Enqueue(line);
                    if (_tail.Count > TailLines) _tail.Dequeue();
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The pipe closes when the process is killed; the tail keeps what was read.
        }
    }

    public void Dispose()
    {
        KillIfRunning();
        Process.Dispose();
    }
}
