using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Dispatch;

/// <summary>How <see cref="ExpertGroupClient"/> uses replicas: the per-part deadline and retries of
/// upmoe.engine.expert-ask-timeout / expert-retries, and the replica failover knobs beside them.</summary>
public sealed record ReplicaPolicy(TimeSpan Timeout, int Retries, TimeSpan ReplicaAttemptTimeout, TimeSpan SuspectPeriod)
{
    public static ReplicaPolicy Default { get; } = new(TimeSpan.FromSeconds(30), 1, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10));
}

/// <summary>
/// Sends one route part to its replica groups. A call is up to 1 + retries passes; a pass tries the replicas in
/// round-robin order, those under suspicion last. Every replica but the last of a pass gets
/// <see cref="ReplicaPolicy.ReplicaAttemptTimeout"/> and fails fast (a node found gone is not waited for); the last gets
/// the full timeout, so with one replica, or one survivor, a request still rides out a hand-off or re-homing. A
/// replica that times out or cannot be reached is suspected for <see cref="ReplicaPolicy.SuspectPeriod"/>: new
/// requests then go to its siblings first instead of each waiting out the same dead node. A group's own error
/// (<see cref="ExpertGroupException"/>) moves on too but raises no suspicion. When every try failed the call fails
/// with an <see cref="ExpertGroupException"/> naming the site, the route and the last error. Every try is counted.
/// Thread-safe.
/// </summary>
public sealed class ExpertGroupClient(IExpertGroupTransport transport, ReplicaPolicy policy, EngineCounters counters)
{
    private readonly ConcurrentDictionary<string, long> suspectUntil = new(StringComparer.Ordinal);
    private int roundRobin;

    /// <summary>Takes ownership of <paramref name="input"/> (pass an alias detached from any dispose scope: it may be
    /// released on another thread); the result is owned by the caller.</summary>
    public async Task<Tensor> ApplyAsync(MoeSite site, IReadOnlyList<string> replicas, Route subRoute, Tensor input, GroupFollowUp? then = null)
    {
        Exception? last = null;
        int tries = 0;
        try
        {
            for (int pass = 0; pass <= policy.Retries; pass++)
            {
                var order = Order(replicas);
                for (int i = 0; i < order.Length; i++)
                {
                    var id = order[i];
                    bool lastOfPass = i == order.Length - 1;
                    if (tries++ > 0) (pass > 0 && i == 0 ? counters.ExpertRetries : counters.ExpertFailovers).Increment();
                    counters.ExpertRequests.Increment();
                    var timeout = lastOfPass ? policy.Timeout : Min(policy.ReplicaAttemptTimeout, policy.Timeout);
                    try
                    {
                        // The alias goes to another actor (maybe another thread): it must not belong to this thread's dispose scope.
                        var result = await transport.ApplyAsync(id, site, subRoute, input.alias().DetachFromDisposeScope(), timeout, then,
                            failFast: !lastOfPass).ConfigureAwait(false);
                        suspectUntil.TryRemove(id, out _);
                        return result;
                    }
                    catch (Exception e)
                    {
                        last = e is AskTimeoutException ? new TimeoutException($"expert group {id} did not answer {site} within {timeout.TotalSeconds:0.#} s", e) : e;
                        if (e is not ExpertGroupException && replicas.Count > 1)
                            suspectUntil[id] = Stopwatch.GetTimestamp() + (long)(policy.SuspectPeriod.TotalSeconds * Stopwatch.Frequency);
                    }
                }
            }
            throw new ExpertGroupException($"{site} route {subRoute} failed after {tries} attempt(s): {last!.Message}", last);
        }
        finally
        {
            input.Dispose();
        }
    }

    /// <summary>The replicas from the next round-robin start, unsuspected ones first (each group keeps its rotation).</summary>
    private string[] Order(IReadOnlyList<string> replicas)
    {
        int n = replicas.Count;
        int start = (int)((uint)Interlocked.Increment(ref roundRobin) % n);
        var rotated = Enumerable.Range(0, n).Select(k => replicas[(start + k) % n]).ToArray();
        if (n == 1 || suspectUntil.IsEmpty) return rotated;
        long now = Stopwatch.GetTimestamp();
        bool Suspected(string id) => suspectUntil.TryGetValue(id, out var until) && until > now;
        return [.. rotated.Where(id => !Suspected(id)), .. rotated.Where(Suspected)];
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
