using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Diagnostics.Runtime;
using UniPerceiverMoe.Host.Tests.Cli;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Host.Tests.Hosting.Samples;

/// <summary>
/// The README's "A complete host app" is tests/UniPerceiverMoe.HostingSample/Program.cs, run here as its own process:
/// it captions a picture through its own actor and keeps serving. While it serves, the spec has its runtime write a
/// dump of itself (the diagnostics IPC channel; no debugger attaches to the live process) and counts the ActorSystem
/// objects on that heap with ClrMD: the engine created none of its own, so there is exactly one, live or dead. Then
/// SIGTERM stops it cleanly.
/// </summary>
[Collection(HostingSamplesCollection.Name)]
public sealed class HostProcessSampleSpecs(ITestOutputHelper output)
{
    private const string ActorSystemType = "Akka.Actor.Internal.ActorSystemImpl";

    [Fact]
    public void The_readmes_complete_host_app_should_be_the_sample_program_word_for_word()
    {
        string readme = File.ReadAllText(RepositoryFile("README.md"));
        var section = Regex.Match(readme, @"### A complete host app[^\n]*\n(?:(?!```)[\s\S])*```csharp\n(?<code>[\s\S]*?)```");
        Assert.True(section.Success, "README.md has no '### A complete host app' section with a csharp block");
        Assert.Equal(Normalize(File.ReadAllText(SampleProgram)), Normalize(section.Groups["code"].Value));
    }

    [Fact]
    public async Task The_sample_process_should_caption_through_its_own_actor_and_hold_exactly_one_actor_system()
    {
        string dir = CliHarness.TempDir();
        string picture = SampleSupport.Picture();
        string engineConfig = Path.Combine(dir, "engine.conf");
        File.WriteAllText(engineConfig, SampleSupport.Hocon());

        var info = new ProcessStartInfo("dotnet", [SampleDll, picture, engineConfig])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["OMP_NUM_THREADS"] = "1";
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            string caption = await ReadCaptionAsync(process, TimeSpan.FromMinutes(3));
            output.WriteLine($"sample process {process.Id}: caption: {caption}");

            var expected = await CliHarness.RunAsync(["caption", "--json", "--image", picture, .. CliHarness.Engine()]);
            Assert.True(expected.ExitCode == 0, expected.Err);
            Assert.Equal(JsonDocument.Parse(expected.Out).RootElement.GetProperty("text").GetString(), caption);

            // Bounded: a heap walk that does not finish fails the spec instead of holding the test run.
            var types = await Task.Run(() => CountHeapObjects(process.Id, dir, ActorSystemType, "UniPerceiverMoe.Actors.Engine.UniPerceiverEngine"))
                .WaitAsync(TimeSpan.FromMinutes(3));
            output.WriteLine(string.Join(", ", types.Select(kv => $"{kv.Key}: {kv.Value}")));
            Assert.Equal(1, types["UniPerceiverMoe.Actors.Engine.UniPerceiverEngine"]);   // the walk sees the engine ...
            Assert.Equal(1, types[ActorSystemType]);                                        // ... and one actor system

            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString()])) kill.WaitForExit();
            Assert.True(process.WaitForExit(TimeSpan.FromMinutes(1)), "the sample did not stop within a minute of SIGTERM");
            Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}: {await stderr}");
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    /// <summary>Objects of each named type on the process's managed heap (reachable or not yet collected), read from a
    /// dump the process's runtime writes of itself into <paramref name="dir"/> (deleted after).</summary>
    private static Dictionary<string, int> CountHeapObjects(int pid, string dir, params string[] typeNames)
    {
        var counts = typeNames.ToDictionary(name => name, _ => 0);
        string dump = Path.Combine(dir, "sample.dmp");
        new Microsoft.Diagnostics.NETCore.Client.DiagnosticsClient(pid).WriteDump(Microsoft.Diagnostics.NETCore.Client.DumpType.WithHeap, dump);
        try
        {
            using var target = DataTarget.LoadDump(dump);
            // The child runs on this process's shared runtime (same `dotnet`, same framework), whose directory holds the
            // matching DAC; ClrMD 4.2 may read .NET 10's version as 0.0, hence ignoreMismatch.
            string dac = Path.Combine(System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory(), "libmscordaccore.so");
            using var runtime = target.ClrVersions.Single().CreateRuntime(dac, ignoreMismatch: true);
            foreach (var obj in runtime.Heap.EnumerateObjects())
                if (obj.Type?.Name is { } name && counts.ContainsKey(name)) counts[name]++;
            return counts;
        }
        finally
        {
            File.Delete(dump);
        }
    }

    private static async Task<string> ReadCaptionAsync(Process process, TimeSpan timeout)
    {
        using var cancellation = new CancellationTokenSource(timeout);
        while (await process.StandardOutput.ReadLineAsync(cancellation.Token) is { } line)
            if (line.StartsWith("caption: ", StringComparison.Ordinal)) return line["caption: ".Length..];
        throw new Xunit.Sdk.XunitException($"the sample exited ({process.ExitCode}) without a caption: {await process.StandardError.ReadToEndAsync()}");
    }

    private static string Normalize(string code) =>
        string.Join('\n', code.Replace("\r", "").Split('\n').Select(line => line.TrimEnd())).Trim();

    private static string SampleDll => Metadata("HostingSampleDll");

    private static string SampleProgram => Path.Combine(Path.GetDirectoryName(Metadata("HostingSampleProject"))!, "Program.cs");

    private static string RepositoryFile(string name) => Path.Combine(Path.GetDirectoryName(Metadata("HostingSampleProject"))!, "..", "..", name);

    private static string Metadata(string key) =>
        typeof(HostProcessSampleSpecs).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;
}
