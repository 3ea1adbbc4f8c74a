using UniPerceiverMoe.Host.Inputs;
using System.CommandLine;
using System.CommandLine.Invocation;
using UniPerceiverMoe.Host.Cli;

namespace UniPerceiverMoe.Host;

/// <summary>The <c>upmoe</c> command line. Commands come from <see cref="CommandCatalog.All"/>; stdout carries only
/// command output (text or one JSON object), everything else (progress, errors) goes to stderr.</summary>
public static class Program
{
    public static Task<int> Main(string[] args)
    {
        UniPerceiverMoe.Model.Inference.OpenMpWaitPolicy.Apply();           // before libtorch loads: libgomp reads it once
        return InvokeAsync(args, Console.Out, Console.Error);
    }

    /// <summary>What <c>upmoe --help</c> opens with: what a new user runs first.</summary>
    public const string FirstSteps = """
        upmoe: zero-shot captioning, classification, retrieval and embeddings with Uni-Perceiver-MoE.

        Start here:  upmoe demo
          captions a generated live video with the demo model that ships with upmoe (no checkpoint, no download).
        Then:        upmoe demo-eval                  score the demo model on fresh clips
                     upmoe caption --video clip.mp4   any command without --checkpoint uses the demo model
                     upmoe serve                      HTTP API and live caption page on http://127.0.0.1:8080
        With a real Uni-Perceiver-MoE checkpoint add --checkpoint model.pth (and --model-config base or large).
        """;

    /// <summary>The root command with every command of the catalog (fresh instances on every call).</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand(FirstSteps);
        foreach (var command in CommandCatalog.All) root.Add(command);
        return root;
    }

    /// <summary>Parses and runs <paramref name="args"/> with the given writers (tests pass StringWriters).
    /// Exit codes: <see cref="ExitCodes"/>. A usage error prints one line and exits 2 instead of
    /// System.CommandLine's error-plus-help page (exit 1), so scripts can tell usage errors from failures.</summary>
    public static async Task<int> InvokeAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellation = default)
    {
        var parse = BuildRoot().Parse(args);
        if (parse.Action is ParseErrorAction && parse.Errors.Count > 0)
        {
            var command = parse.CommandResult.Command;
            string path = command is RootCommand ? "upmoe" : $"upmoe {command.Name}";
            var messages = parse.Errors.Select(e => InputErrors.OneLine(e.Message)).Distinct();
            error.WriteLine($"{CliErrors.Prefix}{string.Join(" ", messages)} (see '{path} --help')");
            return ExitCodes.Usage;
        }
        return await parse.InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancellation).ConfigureAwait(false);
    }
}
