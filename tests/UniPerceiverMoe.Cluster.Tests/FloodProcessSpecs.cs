using UniPerceiverMoe.Streams.Settings;
using UniPerceiverMoe.Streams.Hub;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using UniPerceiverMoe.Actors.Cluster.DataPlane;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Streams;
using UniPerceiverMoe.Streams.Flows;
using UniPerceiverMoe.Streams.Sources;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>
/// A flood against a real expert-node process while a live caption stream runs through the frontend: 300 data-plane
/// connections each claim a 16 MiB body and then trickle bytes, and more send random bytes or truncated frames. The
/// node's resident memory grows by less than 300 MB, the stream keeps captioning, and no window is lost or failed.
/// (The caps are raised so that all 300 are admitted: the bound under test is what an admitted connection costs.)
/// </summary>
[Trait("Category", "Golden")]
public sealed class FloodProcessSpecs(ITestOutputHelper output)
{
    [Fact]
    public async Task A_flood_against_an_expert_process_should_cost_under_300_MB_and_the_stream_should_keep_captioning()
    {
        int port = FreePort();
        await using var cluster = await KillableCluster.StartAsync("per-layer", replicas: 2, $$"""
            upmoe.cluster.data-plane.port = {{port}}
            upmoe.cluster.limits { max-connections = 400, max-connections-per-peer = 400 }
            """);
        var flood = new List<TcpClient>();
        try
        {
            await cluster.Frontend.Engine.VocabularyBankAsync();
            await using var hub = CaptionStreamHub.Start(cluster.Frontend.Engine, StreamSettings.FromConfig(UpmoeConfig.Reference));
            var clock = Stopwatch.StartNew();
            var captions = new ConcurrentQueue<(StreamCaption Caption, TimeSpan At)>();
            var stream = hub.AddStream("camera", FrameSources.Synthetic("camera", 96, 72, fps: 30, TimeSpan.FromSeconds(25)),
                c => captions.Enqueue((c, clock.Elapsed)));
            await TestCluster.AwaitAsync(() => captions.Count >= 2, TimeSpan.FromSeconds(30), "captions before the flood");
            long before = ResidentBytes(cluster.Victim.Id);
            int socketsBefore = Sockets(cluster.Victim.Id);

            var claim = DataPlaneFrames.Header(1, "upmoe.apply-linear", 16 << 20).Concat(new byte[10_000]).ToArray();
            var random = new Random(17);
            for (int i = 0; i < 300; i++)
            {
                var client = Connect(port);
                flood.Add(client);
                await client.GetStream().WriteAsync(claim);
            }
            // Random bytes, and frames cut short (a header claiming a body, part of it, then the connection closed).
            for (int i = 0; i < 50; i++)
            {
                using var junk = Connect(port);
                var bytes = new byte[random.Next(1, 4096)];
                random.NextBytes(bytes);
                if (i % 2 == 0) bytes = [.. DataPlaneFrames.Header(1, "upmoe.apply-linear", 1 << 20), .. bytes];
                try { await junk.GetStream().WriteAsync(bytes); } catch (IOException) { }   // the node may close first
            }
            var floodedAt = clock.Elapsed;
            // The node admitted the flood (each admitted connection holds a socket; accepting 300 takes a moment), so the
            // memory bound is not vacuous.
            int admitted = 0;
            // Trickle: one byte per flooding connection every 250 ms for 4 s.
            long peak = ResidentBytes(cluster.Victim.Id);
            for (int round = 0; round < 16; round++)
            {
                foreach (var client in flood)
                    try { await client.GetStream().WriteAsync(new byte[] { 0 }); } catch (IOException) { }
                peak = Math.Max(peak, ResidentBytes(cluster.Victim.Id));
                admitted = Math.Max(admitted, Sockets(cluster.Victim.Id) - socketsBefore);
                await Task.Delay(250);
            }
            await stream.Completion.WaitAsync(TimeSpan.FromSeconds(120));

            var stats = stream.Stats.Snapshot();
            output.WriteLine($"{admitted} sockets more on the victim after the flood; victim RSS before {before >> 20} MiB, peak {peak >> 20} MiB (grown {(peak - before) >> 20} MiB); {stats}; " +
                $"captions at {string.Join(" ", captions.Select(c => c.At.TotalSeconds.ToString("0.0")))}");
            Assert.True(admitted >= 300, $"the victim should hold the 300 flooding connections ({admitted} sockets more)");
            Assert.InRange(peak - before, long.MinValue, 300L << 20);
            Assert.True(stream.Stats.Balanced, $"windows in = captioned + dropped + failed should hold: {stats}");
            Assert.Equal(0, stats.Failed);
            Assert.Equal(stats.Captioned, stats.Emitted);
            Assert.Equal(stats.Captioned, captions.Count);
            Assert.True(captions.Count(c => c.At > floodedAt) >= 5, "the stream should have kept captioning during and after the flood");
            Assert.False(cluster.Victim.HasExited, "the flooded node should still be running");
        }
        catch
        {
            foreach (var line in cluster.NodeLogs) output.WriteLine("node: " + line);
            throw;
        }
        finally
        {
            foreach (var client in flood) client.Dispose();
        }
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static TcpClient Connect(int port)
    {
        var client = new TcpClient();
        client.Connect(IPAddress.Loopback, port);
        return client;
    }

    /// <summary>Open sockets of process <paramref name="pid"/>.</summary>
    private static int Sockets(int pid) =>
        Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").Count(fd =>
        {
            try { return new FileInfo(fd).LinkTarget?.StartsWith("socket:", StringComparison.Ordinal) == true; }
            catch (IOException) { return false; }
        });

    /// <summary>Resident set (VmRSS) of process <paramref name="pid"/>, in bytes.</summary>
    private static long ResidentBytes(int pid) =>
        long.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
}
