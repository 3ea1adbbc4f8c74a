using System.CommandLine;
using UniPerceiverMoe.Host.Cli;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Host.Tests.Cli;

public sealed class ProgramSpecs(ITestOutputHelper output)
{
    [Fact]
    public void BuildRoot_should_hold_every_command_of_the_catalog()
    {
        var root = Program.BuildRoot();
        Assert.Subset(root.Subcommands.Select(c => c.Name).ToHashSet(), new HashSet<string> { "caption", "classify", "retrieve", "embed", "stream", "node", "bench" });
        Assert.Equal(CommandCatalog.All.Select(c => c.Name), root.Subcommands.Select(c => c.Name));
        Assert.NotSame(Program.BuildRoot().Subcommands[0], root.Subcommands[0]);       // fresh instances per root
    }

    [Fact]
    public async Task Help_should_print_to_stdout_and_exit_zero()
    {
        var run = await CliHarness.RunAsync("caption", "--help");
        output.WriteLine(run.ToString());
        Assert.Equal(0, run.ExitCode);
        Assert.Contains("--checkpoint", run.Out);
        Assert.Contains("--length-penalty", run.Out);
    }

    [Theory]
    [InlineData("Unrecognized command or argument 'bogus'", "bogus")]
    [InlineData("exactly one of --image, --video or --tensor", "caption", "--checkpoint", "m.pth")]
    [InlineData("exactly one of --labels or --labels-file", "classify", "--checkpoint", "m.pth", "--image", "x.png")]
    [InlineData("--text needs exactly one of --images-dir or --videos", "retrieve", "--checkpoint", "m.pth", "--text", "q")]
    [InlineData("embeds text: give --text only", "embed", "--checkpoint", "m.pth", "--task", "class-name-target", "--image", "x.png", "--out", "o")]
    [InlineData("--threads must be at least 1", "embed", "--checkpoint", "m.pth", "--task", "class-name-target", "--text", "t", "--out", "o", "--threads", "0")]
    public async Task Usage_errors_should_print_one_line_and_exit_two(string reason, params string[] args)
    {
        var run = await CliHarness.RunAsync(args);
        output.WriteLine(run.ToString());
        Assert.Equal(2, run.ExitCode);
        Assert.Equal("", run.Out);
        var line = Assert.Single(run.ErrLines);
        Assert.StartsWith("upmoe: error: ", line);
        Assert.Contains(reason, line, StringComparison.OrdinalIgnoreCase);
    }
}
