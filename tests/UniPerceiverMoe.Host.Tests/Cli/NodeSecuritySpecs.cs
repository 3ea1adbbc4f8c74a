using System.Diagnostics;

namespace UniPerceiverMoe.Host.Tests.Cli;

/// <summary>`upmoe node` as a process: a reachable, unauthenticated node refuses to start and names the settings.</summary>
public sealed class NodeSecuritySpecs
{
    [Theory]
    [InlineData("experts")]
    [InlineData("frontend")]
    public async Task A_node_on_a_public_address_without_TLS_or_secret_should_refuse_to_start_naming_the_settings(string role)
    {
        var upmoe = Path.Combine(AppContext.BaseDirectory, "upmoe");
        var info = new ProcessStartInfo(upmoe) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "node", "--role", role, "--set", "akka.remote.dot-netty.tcp.hostname = 10.1.2.3" }) info.ArgumentList.Add(a);
        info.Environment.Remove("UPMOE_CLUSTER_SECRET");
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
        var message = await stderr;
        Assert.Equal(2, process.ExitCode);
        foreach (var setting in new[] { "refusing to start", "10.1.2.3", "akka.remote.dot-netty.tcp.enable-ssl", "upmoe.cluster.secret", "UPMOE_CLUSTER_SECRET", "upmoe.cluster.insecure = on" })
            Assert.Contains(setting, message);
    }
}
