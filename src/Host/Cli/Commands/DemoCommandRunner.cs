using System.CommandLine;
using UniPerceiverMoe.Host.Cli;

namespace UniPerceiverMoe.Host.Cli.Commands;

/// <summary>
/// Shared plumbing of the demo commands (which need no engine, so they do not use <see cref="CliAction"/>): the
/// invocation's writers, torch threads, and the CLI's error convention — one <c>upmoe: error: …</c> line on stderr
/// and an exit code from <see cref="ExitCodes"/>; Ctrl+C is no failure: one <c>NAME: stopped</c> line.
/// </summary>
internal static class DemoCommandRunner
{
    public static Option<int> ThreadsOption() => new("--threads")
    {
        Description = "Torch intra-op threads (training is deterministic for a seed and a thread count).",
        DefaultValueFactory = _ => 2,
    };

    public static void Bind(Command command, Option<int> threads, Func<ParseResult, TextWriter, TextWriter, CancellationToken, Task<int>> body) =>
        command.SetAction(async (parse, cancellation) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            try
            {
                TorchSharp.torch.set_num_threads(Math.Max(1, parse.GetValue(threads)));
                return await body(parse, output, error, cancellation).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
            {
                error.WriteLine($"{command.Name}: stopped");
                return ExitCodes.Stopped;
            }
            catch (Exception e)
            {
                var (code, line) = CliErrors.Describe(e, command.Name);
                error.WriteLine(CliErrors.Prefix + line);
                return code;
            }
        });
}
