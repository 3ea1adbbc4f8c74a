using System.Collections.Concurrent;
using Akka.Configuration;
using UniPerceiverMoe.Actors.Dispatch;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Actors.Settings;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Routing.Requests;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Tests.Dispatch;

/// <summary>Hedging to the next replica when one hangs (a SIGSTOPped node answers nothing and refuses nothing).</summary>
public sealed class HedgedRequestSpecs
{
    private static readonly MoeSite Site = new(0, MoeLinearKind.Linear1);
    private static readonly Route Route = new([0, 1], [0.5f, 0.5f]);
    private static readonly HedgePolicy Hedge = new(3, TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(100), 64, 4);

    // A hung replica's attempt would only end at its (long) attempt timeout: far beyond anything the test waits.
    private static readonly ReplicaPolicy Policy = new ReplicaPolicy(TimeSpan.FromMinutes(10), 1, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(30)) { Hedge = Hedge };

    /// <summary>"g-r0" hangs until released; the others answer at once.</summary>
    private sealed class HangingTransport : IExpertGroupTransport
    {
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public ConcurrentQueue<string> Tries { get; } = new();
        public int HungOpen;

        public async Task<Tensor> ApplyAsync(string groupId, ExpertRequest request, Tensor input, TimeSpan timeout, bool failFast = false)
        {
            Tries.Enqueue(groupId);
            try
            {
                if (groupId == "g-r0")
                {
                    Interlocked.Increment(ref HungOpen);
                    await Release.Task;
                    Interlocked.Decrement(ref HungOpen);
                }
                return input.clone();
            }
            finally
            {
                input.Dispose();
            }
        }
    }

    [Fact]
    public async Task A_request_to_a_hung_replica_should_be_answered_by_a_hedge_to_the_next_one_and_the_duplicate_counted()
    {
        var transport = new HangingTransport();
        var counters = new EngineCounters();
        var client = new ExpertGroupClient(transport, Policy, counters);
        for (int i = 0; i < 4; i++)
        {
            using var result = await client.ApplyAsync(new LinearRequest(Site, Route), ["g-r0", "g-r1"], ones(2, 3));
            Assert.Equal(new long[] { 2, 3 }, result.shape);
        }
        // Every call returned while the hung replica still held its tries: none waited for it.
        Assert.Equal(transport.Tries.Count(t => t == "g-r0"), Volatile.Read(ref transport.HungOpen));
        Assert.Equal(1, transport.HungOpen);     // the replica a hedge beat is suspected: later calls go to g-r1 first
        Assert.Equal(transport.HungOpen, counters.ExpertHedges.Value);
        Assert.Equal(transport.HungOpen, counters.ExpertHedgeWins.Value);
        Assert.Equal(0, counters.ExpertFailovers.Value);
        Assert.Equal(transport.Tries.Count, counters.ExpertRequests.Value);
        transport.Release.SetResult();   // the losers' results are released when they come
    }

    [Fact]
    public async Task Without_hedging_a_request_should_wait_for_the_replica_it_asked()
    {
        var transport = new HangingTransport();
        var client = new ExpertGroupClient(transport, Policy with { Hedge = null }, new EngineCounters());
        Task<Tensor>? hung = null;
        for (int i = 0; i < 2 && hung is null; i++)
        {
            var call = client.ApplyAsync(new LinearRequest(Site, Route), ["g-r0", "g-r1"], ones(2, 3));
            await TestWait.UntilAsync(() => transport.Tries.Count > i);
            if (transport.Tries.Last() == "g-r0") hung = call;
            else (await call).Dispose();
        }
        Assert.NotNull(hung);
        Assert.False(hung!.IsCompleted);
        transport.Release.SetResult();
        (await hung).Dispose();
    }

    [Fact]
    public void The_hedge_delay_should_follow_the_groups_p99_within_its_floor_and_ceiling()
    {
        var window = new LatencyWindow(64);
        Assert.Equal(Hedge.MaxDelay, Hedge.Delay(window));      // no samples yet: a cold group is not hedged early
        for (int i = 0; i < 4; i++) window.Add(TimeSpan.FromMilliseconds(1));
        Assert.Equal(Hedge.MinDelay, Hedge.Delay(window));      // 3 x 1 ms under the floor
        var slow = new LatencyWindow(200);
        for (int i = 0; i < 200; i++) slow.Add(TimeSpan.FromMilliseconds(i % 100 == 0 ? 500 : 10));
        Assert.Equal(TimeSpan.FromMilliseconds(30), Hedge.Delay(slow));   // nearest-rank p99 of 200 samples is the 198th: 10 ms
        for (int i = 0; i < 200; i++) slow.Add(TimeSpan.FromMilliseconds(200));
        Assert.Equal(Hedge.MaxDelay, Hedge.Delay(slow));        // 3 x 200 ms over the ceiling
    }

    [Fact]
    public void A_groups_warm_up_answers_should_not_hold_its_hedge_delay_at_the_ceiling()
    {
        var policy = Hedge with { MinSamples = 4, WarmUp = 2, MaxDelay = TimeSpan.FromSeconds(1) };
        var window = policy.NewWindow();
        window.Add(TimeSpan.FromSeconds(3));                       // the first answer loaded the group's weights
        window.Add(TimeSpan.FromSeconds(1));
        for (int i = 0; i < 3; i++) window.Add(TimeSpan.FromMilliseconds(40));
        Assert.Equal(policy.MaxDelay, policy.Delay(window));       // 3 warm answers: fewer than min-samples
        window.Add(TimeSpan.FromMilliseconds(40));
        Assert.Equal(TimeSpan.FromMilliseconds(120), policy.Delay(window));   // 3 x 40 ms: the cold answers are gone
        // Without a warm-up, the cold answer sets the p99 (capped at max-delay).
        var cold = (policy with { WarmUp = 0 }).NewWindow();
        foreach (var ms in new[] { 3000, 1000, 40, 40, 40, 40 }) cold.Add(TimeSpan.FromMilliseconds(ms));
        Assert.Equal(policy.MaxDelay, policy.Delay(cold));
    }

    [Fact]
    public void Hedging_should_be_configured_in_reference_conf_and_validated()
    {
        var policy = EngineSettings.FromConfig(UpmoeConfig.Reference).ReplicaPolicy.Hedge;
        Assert.Equal(new HedgePolicy(3, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(1), 256, 20, 5), policy);
        Assert.Null(EngineSettings.FromConfig(UpmoeConfig.Parse("upmoe.engine.hedge.enabled = off")).ReplicaPolicy.Hedge);
        var e = Assert.Throws<ConfigurationException>(() => EngineSettings.FromConfig(UpmoeConfig.Parse("upmoe.engine.hedge.min-delay = 2s")));
        Assert.Contains("upmoe.engine.hedge.min-delay", e.Message);
    }
}

internal static class TestWait
{
    /// <summary>Polls until <paramref name="condition"/> holds (fails after 30 s: a hang, not a speed check).</summary>
    public static async Task UntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not reached within 30 s");
            await Task.Delay(10);
        }
    }
}
