namespace UniPerceiverMoe.Host.Cli;

/// <summary>Process exit codes of <c>upmoe</c>.</summary>
public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>Something failed that is not the caller's input (a bug, an engine fault, out of memory).</summary>
    public const int Internal = 1;

    /// <summary>Bad usage or bad input: unknown option, missing or undecodable file, wrong checkpoint, oversized text.</summary>
    public const int Usage = 2;

    /// <summary>Stopped by the user (Ctrl+C) before finishing: the shell's 128 + SIGINT.</summary>
    public const int Stopped = 130;
}
