using System.Diagnostics;

namespace UniPerceiverMoe.Host.Tests.Server;

/// <summary>
/// Headless Debian chromium (/usr/bin/chromium, installed by scripts/setup.sh) with a fresh profile per run and no
/// background traffic. <c>--timeout</c> bounds how long the page loads before the DOM is dumped or the screenshot is
/// taken (not <c>--virtual-time-budget</c>: virtual time waits for the network to go idle, and a live stream's event
/// stream stays open until the stream ends).
/// </summary>
public static class Chromium
{
    public const string Path = "/usr/bin/chromium";
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(45);

    /// <summary>The DOM of <paramref name="url"/> after its scripts ran.</summary>
    public static Task<string> DumpDomAsync(string url, int timeoutMs = 3000) => RunAsync(["--dump-dom", $"--timeout={timeoutMs}", url]);

    /// <summary>Saves a PNG screenshot of <paramref name="url"/> to <paramref name="file"/>.</summary>
    public static Task ScreenshotAsync(string url, string file, int timeoutMs = 3000) =>
        RunAsync([$"--screenshot={file}", "--window-size=1000,800", "--hide-scrollbars", $"--timeout={timeoutMs}", url]);

    private static async Task<string> RunAsync(string[] args)
    {
        Assert.True(File.Exists(Path), $"{Path} is missing: scripts/setup.sh installs Debian's chromium (apt-get install -y chromium)");
        string profile = Directory.CreateTempSubdirectory("upmoe-chromium-").FullName;
        var info = new ProcessStartInfo(Path,
        [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", $"--user-data-dir={profile}", .. args,
        ])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(RunTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"chromium {string.Join(' ', args)} did not finish within {RunTimeout}");
        }
        finally
        {
            try { Directory.Delete(profile, recursive: true); } catch (IOException) { /* chromium helpers may still hold files */ }
        }
        Assert.True(process.ExitCode == 0, $"chromium exited {process.ExitCode}: {await stderr}");
        return await stdout;
    }
}
