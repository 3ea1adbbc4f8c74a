using System.Net;
using System.Text.RegularExpressions;
using UniPerceiverMoe.Host.Server;
using UniPerceiverMoe.Host.Tests.Cli;
using Xunit.Abstractions;
using static UniPerceiverMoe.Host.Tests.Server.ServerFixture;

namespace UniPerceiverMoe.Host.Tests.Server;

/// <summary><c>upmoe serve</c>: options, errors, and a real run on a free loopback port stopped by cancellation.</summary>
[Collection(ServerCollection.Name)]
public sealed partial class ServeCommandSpecs(ITestOutputHelper output)
{
    [Fact]
    public async Task Help_should_explain_every_option()
    {
        var run = await CliHarness.RunAsync("serve", "--help");

        Assert.Equal(0, run.ExitCode);
        foreach (var option in new[] { "--port", "--bind", "--checkpoint", "--vocab", "--config", "--cache-dir", "--threads", "--quiet" })
            Assert.Matches($"{option}( <[^>]+>)? {{2,}}[A-Z]", run.Out);    // listed with a description
        Assert.DoesNotContain("--json", run.Out);
    }

    [Theory]
    [InlineData("--port", "70000", "--port must be in 0..65535.")]
    [InlineData("--bind", "example.org", "bind must be an IP address or localhost (got 'example.org')")]
    public async Task Bad_options_should_exit_2_with_one_line(string option, string value, string says)
    {
        var run = await CliHarness.RunAsync(["serve", .. CliHarness.Engine(), option, value]);
        output.WriteLine(run.ToString());

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(says, Assert.Single(run.ErrLines));
    }

    [Fact]
    public async Task Serve_should_answer_probes_and_metrics_and_stop_cleanly_when_cancelled()
    {
        var text = new StringWriter();
        var stderr = TextWriter.Synchronized(text);
        using var stop = new CancellationTokenSource();
        var serving = Task.Run(() => Program.InvokeAsync(["serve", .. CliHarness.Engine(), "--port", "0"], TextWriter.Null, stderr, stop.Token));
        string address = "";
        await Eventually(() =>
        {
            Assert.False(serving.IsCompleted, $"serve ended early: {Text(stderr, text)}");
            address = Address().Match(Text(stderr, text)).Value;
            return Task.FromResult(address.Length > 0);
        }, "serve to print its address");
        using var client = new HttpClient { BaseAddress = new Uri(address) };
        Assert.StartsWith("http://127.0.0.1:", address);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
        await Eventually(async () => (await client.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK, "/readyz");
        Assert.Contains("upmoe_engine_ready 1", await client.GetStringAsync("/metrics"));

        stop.Cancel();
        int exit = await serving.WaitAsync(Patience);
        output.WriteLine(Text(stderr, text));
        Assert.Equal(0, exit);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync("/healthz"));
    }

    [Fact]
    public async Task A_server_whose_engine_cannot_start_should_stay_live_but_not_ready()
    {
        await using var app = UpmoeServer.Build(Config("upmoe.engine.checkpoint = \"/no/such/model.pth\", upmoe.server.api-key = \"\""), logging: _ => { });
        await app.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(UpmoeServer.Address(app)) };
        await Eventually(async () => (await JsonOf(await client.GetAsync("/readyz"))).GetProperty("status").GetString() == "failed", "/readyz to report the failure");

        using var health = await client.GetAsync("/healthz");
        using var ready = await client.GetAsync("/readyz");
        using var caption = await client.PostAsync("/v1/caption", Multipart.Form().WithFile([1, 2, 3], "a.png", "image/png"));
        var readyJson = await JsonOf(ready);
        output.WriteLine(readyJson.ToString());
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Contains("/no/such/model.pth", readyJson.GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, caption.StatusCode);
        Assert.StartsWith("the engine failed to start", (await JsonOf(caption)).GetProperty("message").GetString());
    }

    /// <summary>What was written so far: the synchronized writer locks itself around every write.</summary>
    private static string Text(TextWriter synchronized, StringWriter inner)
    {
        lock (synchronized) return inner.ToString();
    }

    [GeneratedRegex(@"http://127\.0\.0\.1:\d+")]
    private static partial Regex Address();
}
