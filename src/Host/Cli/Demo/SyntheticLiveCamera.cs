using System.IO.Pipes;
using UniPerceiverMoe.Demo.Synthetic;

namespace UniPerceiverMoe.Host.Cli.Demo;

/// <summary>
/// A generated live camera: renders synthetic clips back to back as raw rgb24 frames into an in-process pipe,
/// paced at the clips' frame rate when <c>realtime</c> (so the stream behaves like a live feed and windows can be
/// dropped, and counted, if the engine falls behind). The reader end feeds <c>FrameSources.RawRgb</c>.
/// </summary>
public sealed class SyntheticLiveCamera : IAsyncDisposable
{
    private readonly AnonymousPipeServerStream writer = new(PipeDirection.Out);
    private readonly CancellationTokenSource stop = new();
    private readonly Task pump;

    public SyntheticLiveCamera(IReadOnlyList<SyntheticClip> clips, SyntheticVideoOptions options, bool realtime)
    {
        Reader = new AnonymousPipeClientStream(PipeDirection.In, writer.ClientSafePipeHandle);
        pump = Task.Run(() => PumpAsync(clips, options, realtime, stop.Token));
    }

    /// <summary>The frames, rgb24, CanvasSize × CanvasSize each; ends after the last clip.</summary>
    public Stream Reader { get; }

    private async Task PumpAsync(IReadOnlyList<SyntheticClip> clips, SyntheticVideoOptions options, bool realtime, CancellationToken cancellation)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long frame = 0;
        try
        {
            foreach (var clip in clips)
                for (int f = 0; f < options.TotalFrames; f++, frame++)
                {
                    if (realtime)
                    {
                        var due = TimeSpan.FromSeconds(frame / (double)options.Fps) - clock.Elapsed;
                        if (due > TimeSpan.Zero) await Task.Delay(due, cancellation).ConfigureAwait(false);
                    }
                    await writer.WriteAsync(ClipRenderer.RenderFrame(clip, f, options), cancellation).ConfigureAwait(false);
                }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // The reader went away or the demo was stopped: the camera just stops.
        }
        finally
        {
            writer.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync().ConfigureAwait(false);
        await pump.ConfigureAwait(false);
        await Reader.DisposeAsync().ConfigureAwait(false);
        stop.Dispose();
    }
}
