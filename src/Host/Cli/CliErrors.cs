using UniPerceiverMoe.Host.Inputs;
using UniPerceiverMoe.Model.Preprocessing;

namespace UniPerceiverMoe.Host.Cli;

/// <summary>Turns exceptions into the one-line diagnostics of <c>upmoe</c>: <c>upmoe: error: &lt;input&gt;: &lt;reason&gt;</c>
/// (which failures are input faults, and how a reason is put on one line: <see cref="InputErrors"/>).</summary>
public static class CliErrors
{
    public const string Prefix = "upmoe: error: ";

    /// <summary>(exit code, diagnostic line without the prefix) for a failure of command <paramref name="command"/>.</summary>
    public static (int ExitCode, string Line) Describe(Exception failure, string command)
    {
        var e = InputErrors.Unwrap(failure);
        return e switch
        {
            InputException i => (ExitCodes.Usage, $"{i.Input}: {InputErrors.OneLine(i.Reason)}"),
            VideoDecodeException v => (ExitCodes.Usage, $"{v.Input}: {InputErrors.OneLine(v.Reason)}"),
            OperationCanceledException => (ExitCodes.Internal, $"{command}: cancelled"),
            _ when InputErrors.IsInputFault(e) => (ExitCodes.Usage, $"{command}: {InputErrors.OneLine(InputErrors.Message(e))}"),
            _ => (ExitCodes.Internal, $"{command}: internal failure ({e.GetType().Name}): {InputErrors.OneLine(e.Message)}"),
        };
    }
}
