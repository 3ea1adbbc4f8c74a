using System.CommandLine;
using UniPerceiverMoe.Host.Cli.Commands;

namespace UniPerceiverMoe.Host.Cli;

/// <summary>
/// Every subcommand of <c>upmoe</c>. Adding a command is one line here: a static factory returning a new
/// <see cref="Command"/> (see <see cref="CaptionCommand"/> for the pattern: <see cref="EngineOptions"/> for the
/// shared engine options, <see cref="CliAction.Run"/> for error handling and exit codes).
/// </summary>
public static class CommandCatalog
{
    /// <summary>New command instances on every read: a command (and its options) belongs to one root.</summary>
    public static IEnumerable<Command> All =>
    [
        CaptionCommand.Create(),
        ClassifyCommand.Create(),
        RetrieveCommand.Create(),
        EmbedCommand.Create(),
        StreamCommand.Create(),
        ServeCommand.Create(),
        DemoCommand.Create(),
        NodeCommand.Create(),
        TrainDemoCommand.Create(),
        DemoEvalCommand.Create(),
        Bench.BenchCommands.Create(),
    ];
}
