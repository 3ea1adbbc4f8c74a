namespace UniPerceiverMoe.Host.Cli;

/// <summary>The caller's input is unusable: <see cref="Input"/> names it (a path, URL or option), <see cref="Reason"/>
/// says why in one line. Always exit code <see cref="ExitCodes.Usage"/>.</summary>
public sealed class InputException(string input, string reason, Exception? inner = null) : Exception($"{input}: {reason}", inner)
{
    public string Input { get; } = input;
    public string Reason { get; } = reason;
}
