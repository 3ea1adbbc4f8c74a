using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Host.Hosting;
using UniPerceiverMoe.Host.Server;
using UniPerceiverMoe.Host.Tests.Cli;
using UniPerceiverMoe.TestSupport;

namespace UniPerceiverMoe.Host.Tests.Server;

/// <summary>
/// One server for the server specs: the golden tiny model, loopback on a free port, an API key, a 1 MiB upload
/// limit, and a small test video and image. Started once; <see cref="Client"/> sends the key.
/// </summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public const string ApiKey = "test-key-123";
    public const long MaxUpload = 1 << 20;
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private WebApplication? app;

    public string Address { get; private set; } = "";
    public HttpClient Client { get; private set; } = new();
    public string Dir { get; } = CliHarness.TempDir();
    public string Video { get; private set; } = "";
    public string Image { get; private set; } = "";
    public UniPerceiverMoeRuntime Runtime => app!.Services.GetRequiredService<UniPerceiverMoeRuntime>();

    /// <summary>Configuration of a test server over the golden tiny model (loopback, free port).</summary>
    public static Akka.Configuration.Config Config(string extra = "") => UpmoeConfig.Parse($$"""
        upmoe.engine { checkpoint = {{JsonSerializer.Serialize(GoldenModel.CheckpointPath)}}, vocab = {{JsonSerializer.Serialize(CliHarness.Vocab)}}
                       cache-dir = {{JsonSerializer.Serialize(CliHarness.CacheDir)}}, torch-threads = 1 }
        upmoe.server { port = 0, max-upload = {{MaxUpload}}, api-key = "{{ApiKey}}", stats-interval = 200ms }
        {{extra}}
        """);

    public async Task InitializeAsync()
    {
        Video = TestVideos.Make(Dir, "clip.mp4", seconds: 3);
        Image = Path.Combine(Dir, "pattern.png");
        TestVideos.Ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240", "-frames:v", "1", Image);
        app = UpmoeServer.Build(Config(), logging: _ => { });
        await app.StartAsync();
        Address = UpmoeServer.Address(app);
        Client = new HttpClient { BaseAddress = new Uri(Address), Timeout = Patience };
        Client.DefaultRequestHeaders.Add("X-Api-Key", ApiKey);
        await Runtime.WhenReady.WaitAsync(Patience);
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        if (app is not null) await app.DisposeAsync();
    }

    /// <summary>The JSON of a response (any status).</summary>
    public static async Task<JsonElement> JsonOf(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonElement>());

    /// <summary>Polls <paramref name="condition"/> every 100 ms until it holds or <see cref="Patience"/> passes.</summary>
    public static async Task Eventually(Func<Task<bool>> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(clock.Elapsed < Patience, $"timed out waiting for {what}");
            await Task.Delay(100);
        }
    }
}

/// <summary>Specs that share the server (and both cores) run one at a time, apart from other collections.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "server";
}
