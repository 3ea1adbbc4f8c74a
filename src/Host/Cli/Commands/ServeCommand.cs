using UniPerceiverMoe.Host.Inputs;
using UniPerceiverMoe.Actors.Settings;
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Akka.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using UniPerceiverMoe.Host.Hosting;
using UniPerceiverMoe.Host.Server;

namespace UniPerceiverMoe.Host.Cli.Commands;

/// <summary>
/// <c>upmoe serve [--checkpoint PATH] [--port 8080] [--bind 127.0.0.1]</c>: the HTTP host (the demo model without a
/// checkpoint). Listens at once (/healthz,
/// /metrics), loads the engine behind it (/readyz turns 200 when ready), and runs until Ctrl+C / SIGTERM, then stops
/// streams and the engine cleanly. Exit code 0 after a clean stop, 1 when the engine failed to start, 2 for bad
/// arguments (including a port that cannot be bound).
/// </summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var engineOptions = new EngineOptions();
        var port = new Option<int?>("--port") { Description = "TCP port to listen on; 0 picks a free one (default upmoe.server.port, 8080)", HelpName = "N" };
        port.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int?>() is < 0 or > 65535) r.AddError("--port must be in 0..65535.");
        });
        var bind = new Option<string?>("--bind")
        {
            Description = "Address to listen on (default upmoe.server.bind, 127.0.0.1: loopback only; anything else exposes the API, set upmoe.server.api-key)",
            HelpName = "ADDRESS",
        };
        var command = new Command("serve", "Serve the HTTP API, the live caption page and /metrics") { port, bind };
        engineOptions.AddTo(command, json: false);

        CliAction.Bind(command, engineOptions, async (context, cancellation) =>
        {
            context.Settings();                 // a wrong checkpoint or config fails before the server starts
            var overrides = new List<string>();
            if (context.Value(port) is { } p) overrides.Add(string.Create(CultureInfo.InvariantCulture, $"upmoe.server.port = {p}"));
            if (context.Value(bind) is { } b) overrides.Add($"upmoe.server.bind = {JsonSerializer.Serialize(b)}");
            var config = UpmoeConfig.Over(context.ResolvedConfig(), string.Join("\n", overrides));
            InputErrors.Guard("--port/--bind", () => ServerSettings.FromConfig(config));
            // The demo model (no checkpoint given) decodes against its corpus words, as every other command does.
            var engine = context.Demo is { } demo ? new Actors.Engine.EngineStartOptions { CaptionVocabulary = demo.CorpusWordIds } : null;
            return await RunAsync(config, context.Error, context.Quiet ? null : context.Log, cancellation, engine).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>
    /// Serves <paramref name="config"/> until <paramref name="cancellation"/> (Ctrl+C / SIGTERM): listens at once, starts
    /// the engine in the background (embedded, or a cluster frontend when the configuration says so, see
    /// <see cref="Actors.Cluster.EngineLauncher"/>), then stops streams and the engine cleanly. Returns the exit code;
    /// a port that cannot be bound throws an <see cref="InputException"/>.
    /// </summary>
    public static async Task<int> RunAsync(Akka.Configuration.Config config, TextWriter error, Action<string>? log, CancellationToken cancellation,
        Actors.Engine.EngineStartOptions? engine = null)
    {
        await using var app = UpmoeServer.Build(config, o =>
        {
            o.Log = log;
            if (engine is not null) o.Engine = engine;
        });
        await InputErrors.GuardAsync("--port/--bind", async () => { await app.StartAsync(cancellation).ConfigureAwait(false); return true; }).ConfigureAwait(false);
        string address = UpmoeServer.Address(app);
        error.WriteLine($"upmoe: serving on {address} (page {address}/, metrics {address}/metrics); the engine loads in the background (see {address}/readyz); Ctrl+C stops");
        var runtime = app.Services.GetRequiredService<UniPerceiverMoeRuntime>();
        int exit = ExitCodes.Ok;
        try
        {
            await runtime.WhenReady.WaitAsync(cancellation).ConfigureAwait(false);
            log?.Invoke("upmoe: ready");
            await app.WaitForShutdownAsync(cancellation).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            // Ctrl+C or SIGTERM: a clean stop.
        }
        catch (Exception e) when (runtime.State == RuntimeState.Failed)
        {
            var (_, line) = CliErrors.Describe(e, "serve");
            error.WriteLine(CliErrors.Prefix + "the engine failed to start: " + line);
            exit = ExitCodes.Internal;
        }
        await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
        return exit;
    }
}
