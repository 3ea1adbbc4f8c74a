using System.CommandLine;
using System.Text.RegularExpressions;
using UniPerceiverMoe.Host.Cli;
using UniPerceiverMoe.Host.Cli.Commands;
using UniPerceiverMoe.Host.Tests.Cli;

namespace UniPerceiverMoe.Host.Tests.Commands;

[Collection(CliCollection.Name)]
public sealed class DemoCommandsSpecs
{
    private static async Task<CliRun> RunAsync(params string[] args)
    {
        var root = new RootCommand("upmoe") { TrainDemoCommand.Create(), DemoEvalCommand.Create() };
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        return new CliRun(code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Train_demo_then_demo_eval_should_write_a_loadable_model_and_end_with_the_summary_line()
    {
        string dir = Path.Combine(CliHarness.TempDir(), "demo");
        var train = await RunAsync("train-demo", "--out", dir, "--steps", "2", "--batch", "2", "--seed", "3", "--threads", "1", "--vocab", CliHarness.Vocab);
        Assert.True(train.ExitCode == 0, train.ToString());
        Assert.All(new[] { "model.safetensors", "config.json", "demo.json" }, f => Assert.True(File.Exists(Path.Combine(dir, f)), f));
        Assert.Contains("train-demo: step 2/2", train.Err);
        Assert.StartsWith("wrote ", train.Out);

        var eval = await RunAsync("demo-eval", "--model", dir, "--clips", "2", "--seed", "5", "--show", "2", "--threads", "1", "--vocab", CliHarness.Vocab);
        Assert.True(eval.ExitCode == 0, eval.ToString());
        var lines = eval.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Matches(new Regex(@"^caption exact-match: \d+\.\d %, attribute accuracy: \d+\.\d %$"), lines[^1]);
        Assert.Equal(2, lines.Count(l => l.StartsWith("ok ") || l.StartsWith("MISS")));
        Assert.Contains("shape accuracy:", eval.Out);
    }

    [Fact]
    public async Task Demo_eval_should_fail_with_one_error_line_and_exit_2_without_a_model()
    {
        string dir = Path.Combine(CliHarness.TempDir(), "missing");
        var run = await RunAsync("demo-eval", "--model", dir, "--clips", "1");
        Assert.Equal(2, run.ExitCode);
        Assert.Single(run.ErrLines);
        Assert.StartsWith("upmoe: error: demo-eval: ", run.ErrLines[0]);
        Assert.Contains("train-demo", run.ErrLines[0]);
        Assert.Equal("", run.Out);
    }

    [Fact]
    public async Task Ctrl_c_while_demo_trains_its_model_should_say_stopped_not_internal_failure()
    {
        string dir = Path.Combine(CliHarness.TempDir(), "untrained");
        using var stop = new CancellationTokenSource();
        using var error = new StringWriter();
        var errors = new StopAfterFirstLine(error, stop);
        int code = await Program.InvokeAsync(["demo", "--model", dir, "--cache-dir", CliHarness.TempDir(), "--threads", "1"], TextWriter.Null, errors, stop.Token);
        var lines = error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.True(code == ExitCodes.Stopped, error.ToString());
        Assert.Equal("demo: stopped", lines[^1]);
        Assert.DoesNotContain(lines, l => l.Contains("internal failure", StringComparison.Ordinal));
    }

    /// <summary>Presses Ctrl+C (cancels) as soon as the command has said anything on stderr: demo announces the
    /// training first.</summary>
    private sealed class StopAfterFirstLine(TextWriter inner, CancellationTokenSource stop) : TextWriter
    {
        public override System.Text.Encoding Encoding => inner.Encoding;

        public override void Write(char value) => inner.Write(value);

        public override void WriteLine(string? value)
        {
            lock (inner) inner.WriteLine(value);
            stop.Cancel();
        }
    }
}
