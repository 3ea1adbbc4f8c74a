namespace UniPerceiverMoe.Host.Inputs;

/// <summary>The caller's input is unusable: <see cref="Input"/> names it (a path, URL or option), <see cref="Reason"/>
/// says why in one line. The command line exits with its usage code (2) on it, the HTTP server answers 422.</summary>
public sealed class InputException(string input, string reason, Exception? inner = null) : Exception($"{input}: {reason}", inner)
{
    public string Input { get; } = input;
    public string Reason { get; } = reason;
}
