using System.CommandLine;

namespace UniPerceiverMoe.Host.Cli;

/// <summary>Binds a command body to its command with the shared error handling: every failure becomes one
/// <c>upmoe: error: …</c> line on stderr (plus the stack trace under --verbose) and an exit code from <see cref="ExitCodes"/>.</summary>
public static class CliAction
{
    public static void Bind(Command command, EngineOptions options, Func<CommandContext, CancellationToken, Task<int>> body) =>
        command.SetAction((parse, cancellation) => RunAsync(command.Name, parse, options, body, cancellation));

    private static async Task<int> RunAsync(string name, ParseResult parse, EngineOptions options,
        Func<CommandContext, CancellationToken, Task<int>> body, CancellationToken cancellation)
    {
        var context = new CommandContext(parse, options);
        try
        {
            try
            {
                return await body(context, cancellation).ConfigureAwait(false);
            }
            finally
            {
                await context.DisposeAsync().ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            var (code, line) = CliErrors.Describe(e, name);
            context.Error.WriteLine(CliErrors.Prefix + line);
            if (context.Verbose) context.Error.WriteLine(e);
            return code;
        }
    }
}
