using UniPerceiverMoe.Host.Inputs;
using UniPerceiverMoe.Streams.Hub;

namespace UniPerceiverMoe.Host.Cli.Demo;

/// <summary>How a demo's camera stream ends, for the caption and the watch demo alike.</summary>
public static class DemoStreamEnd
{
    /// <summary>Waits for <paramref name="stream"/> to end (stopping it on <paramref name="cancellation"/>). Returns false
    /// after printing its failure as one <c>upmoe: error:</c> line; true when it ended normally.</summary>
    public static async Task<bool> AwaitAsync(CaptionStream stream, TextWriter error, CancellationToken cancellation)
    {
        using var stop = cancellation.Register(() => stream.Stop());
        try
        {
            await stream.Completion.ConfigureAwait(false);
            return true;
        }
        catch (CaptionStreamException e)
        {
            error.WriteLine(CliErrors.Prefix + InputErrors.OneLine(e.Message));
            return false;
        }
    }
}
