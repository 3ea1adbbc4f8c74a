using UniPerceiverMoe.Streams.Settings;
using UniPerceiverMoe.Streams.Hub;
using UniPerceiverMoe.Bench.Processes;
using System.Collections.Concurrent;
using System.Diagnostics;
using UniPerceiverMoe.Actors.Cluster;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Streams;
using UniPerceiverMoe.Streams.Flows;
using UniPerceiverMoe.Streams.Sources;
using Xunit.Abstractions;

namespace UniPerceiverMoe.Cluster.Tests;

/// <summary>
/// A rolling restart under a live caption stream: two expert-node processes, every group with two replicas, and each
/// node in turn stopped with SIGTERM (it leaves gracefully, handing its groups off) and started again, the next one
/// only once the restarted node is back in the cluster. Every window is accounted for: in = captioned + dropped +
/// failed, none failed, and the stream goes on captioning after each restart.
/// </summary>
[Trait("Category", "Golden")]
public sealed class RollingRestartSpecs(ITestOutputHelper output)
{
    private const string Placement = "per-layer";

    [Fact]
    public async Task A_live_caption_stream_should_keep_captioning_through_a_rolling_restart_of_every_expert_node()
    {
        const string replicas = "upmoe.placement.replicas = 2";
        await using var frontend = TestCluster.StartFrontend(Placement, replicas);
        string[] arguments =
        [
            "--config", TestCluster.HoconFile("experts.conf"), "--config", TestCluster.HoconFile("loopback.conf"),
            "--set", TestCluster.Common(Placement), "--set", replicas, "--set", $"akka.cluster.seed-nodes = [\"{frontend.Address}\"]",
        ];
        var nodes = new List<ExpertProcess>();
        var logs = new List<ExpertProcess>();
        try
        {
            for (int i = 0; i < 2; i++)
            {
                var node = ExpertProcess.Start(TestCluster.NodeCommand(), arguments);
                nodes.Add(node);
                logs.Add(node);
                await node.WhenUp(TimeSpan.FromSeconds(60));
            }
            await TestCluster.AwaitFormedAsync(frontend, members: 3, expertRegions: 2);
            await TestCluster.GroupHomesAsync(frontend);
            await frontend.Engine.VocabularyBankAsync();

            await using var hub = CaptionStreamHub.Start(frontend.Engine, StreamSettings.FromConfig(UpmoeConfig.Reference));
            var clock = Stopwatch.StartNew();
            var captions = new ConcurrentQueue<(StreamCaption Caption, TimeSpan At)>();
            var stream = hub.AddStream("camera", FrameSources.Synthetic("camera", 96, 72, fps: 30, TimeSpan.FromSeconds(30)),
                c => captions.Enqueue((c, clock.Elapsed)));
            await TestCluster.AwaitAsync(() => captions.Count >= 2, TimeSpan.FromSeconds(30), "captions before the first restart");

            var restartedAt = new List<TimeSpan>();
            for (int i = 0; i < 2; i++)
            {
                var old = nodes[i];
                await old.StopAsync(TimeSpan.FromSeconds(60));                 // SIGTERM: graceful leave
                Assert.True(old.HasExited, $"node {i} should have exited after SIGTERM");
                var fresh = ExpertProcess.Start(TestCluster.NodeCommand(), arguments);
                nodes[i] = fresh;
                logs.Add(fresh);
                var address = await fresh.WhenUp(TimeSpan.FromSeconds(60));
                await TestCluster.AwaitFormedAsync(frontend, members: 3, expertRegions: 2);
                restartedAt.Add(clock.Elapsed);
                output.WriteLine($"node {i} restarted as {address} at {clock.Elapsed.TotalSeconds:0.0} s");
                int before = captions.Count;
                await TestCluster.AwaitAsync(() => captions.Count >= before + 2, TimeSpan.FromSeconds(30), $"captions after restarting node {i}");
            }
            await stream.Completion.WaitAsync(TimeSpan.FromSeconds(120));

            var stats = stream.Stats.Snapshot();
            output.WriteLine($"{stats}; captions at {string.Join(" ", captions.Select(c => c.At.TotalSeconds.ToString("0.0")))}; " +
                string.Join(", ", frontend.Counters.Snapshot().Select(kv => $"{kv.Key}={kv.Value}")));
            Assert.True(stream.Stats.Balanced, $"windows in = captioned + dropped + failed should hold: {stats}");
            Assert.Equal(0, stats.Failed);
            Assert.Equal(stats.Captioned, stats.Emitted);
            Assert.Equal(stats.Captioned, captions.Count);
            Assert.All(restartedAt, at => Assert.Contains(captions, c => c.At > at));
            Assert.Equal(captions.Select(c => c.Caption.Window).Order(), captions.Select(c => c.Caption.Window));
            Assert.Equal(0, frontend.Engine.Counters.RequestsFailed.Value);
        }
        catch
        {
            foreach (var (node, i) in logs.Select((n, i) => (n, i)))
                foreach (var line in node.Log) output.WriteLine($"node {i}: {line}");
            throw;
        }
        finally
        {
            foreach (var node in nodes) await node.DisposeAsync();
        }
    }
}
