using System.Collections.Concurrent;
using UniPerceiverMoe.Actors.Dispatch;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Routing.Requests;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Tests.Dispatch;

public sealed class ExpertGroupClientSpecs
{
    private static readonly MoeSite Site = new(0, MoeLinearKind.Linear1);
    private static readonly Route Route = new([0, 1], [0.5f, 0.5f]);
    private static readonly ReplicaPolicy Policy = new(TimeSpan.FromSeconds(20), 1, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(30));

    /// <summary>Records every try; each group behaves as its entry in <c>behaviour</c> says.</summary>
    private sealed class ScriptedTransport(Func<string, TimeSpan, bool, Task> behaviour) : IExpertGroupTransport
    {
        public ConcurrentQueue<(string Group, TimeSpan Timeout, bool FailFast)> Tries { get; } = new();

        public async Task<Tensor> ApplyAsync(string groupId, ExpertRequest request, Tensor input, TimeSpan timeout, bool failFast = false)
        {
            Tries.Enqueue((groupId, timeout, failFast));
            try
            {
                await behaviour(groupId, timeout, failFast);
                return input.clone();
            }
            finally
            {
                input.Dispose();
            }
        }
    }

    private static async Task CallAsync(ExpertGroupClient client, IReadOnlyList<string> replicas)
    {
        using var result = await client.ApplyAsync(new LinearRequest(Site, Route), replicas, ones(2, 3));
        Assert.Equal(new long[] { 2, 3 }, result.shape);
    }

    [Fact]
    public async Task Each_group_should_rotate_its_own_replicas_when_a_sequence_asks_two_groups_in_turn()
    {
        // Replica 0 of group a and replica 1 of group b live on node A (ids say so): a shared rotation would give
        // a every even turn and b every odd one, and send both of a sequence's hops to node A.
        var transport = new ScriptedTransport((_, _, _) => Task.CompletedTask);
        var client = new ExpertGroupClient(transport, Policy, new EngineCounters());
        for (int i = 0; i < 8; i++)
        {
            await CallAsync(client, ["a-r0@A", "a-r1@B"]);
            await CallAsync(client, ["b-r0@B", "b-r1@A"]);
        }
        var perGroup = transport.Tries.GroupBy(t => t.Group).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(4, perGroup.Count);
        Assert.All(perGroup.Values, count => Assert.Equal(4, count));
        Assert.Equal(8, transport.Tries.Count(t => t.Group.EndsWith("@A", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_replica_whose_node_is_gone_should_be_skipped_at_once_and_then_suspected()
    {
        var transport = new ScriptedTransport((group, _, failFast) => group == "g-r0"
            ? Task.FromException(new ExpertGroupUnreachableException("g-r0: connection refused"))
            : Task.CompletedTask);
        var counters = new EngineCounters();
        var client = new ExpertGroupClient(transport, Policy, counters);
        for (int i = 0; i < 6; i++) await CallAsync(client, ["g-r0", "g-r1"]);

        var tries = transport.Tries.ToArray();
        Assert.Single(tries, t => t.Group == "g-r0");                         // tried once, suspected after
        Assert.All(tries.Where(t => t.Group == "g-r0"), t => Assert.True(t.FailFast));
        Assert.Equal(6, tries.Count(t => t.Group == "g-r1"));
        Assert.Equal(1, counters.ExpertFailovers.Value);
        Assert.Equal(0, counters.ExpertRetries.Value);
    }

    [Fact]
    public async Task A_silent_replica_should_cost_one_replica_attempt_timeout_not_the_request_timeout()
    {
        var transport = new ScriptedTransport(async (group, timeout, _) =>
        {
            if (group != "g-r0") return;
            await Task.Delay(timeout);
            throw new TimeoutException("g-r0 did not answer");
        });
        var client = new ExpertGroupClient(transport, Policy, new EngineCounters());
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < 4; i++) await CallAsync(client, ["g-r0", "g-r1"]);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        var silent = Assert.Single(transport.Tries, t => t.Group == "g-r0");
        Assert.Equal(Policy.ReplicaAttemptTimeout, silent.Timeout);
    }

    [Fact]
    public async Task The_last_replica_of_a_pass_should_get_the_full_timeout_and_wait_out_a_rehoming()
    {
        var transport = new ScriptedTransport((_, _, _) => Task.CompletedTask);
        var client = new ExpertGroupClient(transport, Policy, new EngineCounters());
        await CallAsync(client, ["only"]);
        var only = Assert.Single(transport.Tries);
        Assert.Equal((Policy.Timeout, false), (only.Timeout, only.FailFast));
    }

    [Fact]
    public async Task A_group_error_should_move_on_without_suspicion_and_fail_after_every_pass()
    {
        var transport = new ScriptedTransport((group, _, _) => Task.FromException(new ExpertGroupException($"{group}: bad input")));
        var counters = new EngineCounters();
        var client = new ExpertGroupClient(transport, Policy, counters);
        var error = await Assert.ThrowsAsync<ExpertGroupException>(() => CallAsync(client, ["g-r0", "g-r1"]));
        Assert.Contains("failed after 4 attempt(s)", error.Message);                // 2 passes × 2 replicas
        Assert.Equal(2, counters.ExpertFailovers.Value);                             // the second replica of each pass
        Assert.Equal(1, counters.ExpertRetries.Value);                               // the second pass
        await Assert.ThrowsAsync<ExpertGroupException>(() => CallAsync(client, ["g-r0", "g-r1"]));
        var secondCall = transport.Tries.Skip(4).Select(t => t.Group).ToArray();
        Assert.Equal(2, secondCall.Distinct().Count());                              // nobody suspected: both still tried
    }
}
