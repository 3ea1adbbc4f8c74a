using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Akka.Actor;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Model.Routing.Requests;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Dispatch;

/// <summary>How <see cref="ExpertGroupClient"/> uses replicas: the per-part deadline and retries of
/// upmoe.engine.expert-ask-timeout / expert-retries, the replica failover knobs beside them, and hedging
/// (upmoe.engine.hedge; null = never ask a second replica before the first has failed).</summary>
public sealed record ReplicaPolicy(TimeSpan Timeout, int Retries, TimeSpan ReplicaAttemptTimeout, TimeSpan SuspectPeriod)
{
    public HedgePolicy? Hedge { get; init; }
}

/// <summary>
/// Sends one route part to its replica groups. A call is up to 1 + retries passes; a pass tries the replicas in
/// round-robin order, those under suspicion last. Every replica but the last of a pass gets
/// <see cref="ReplicaPolicy.ReplicaAttemptTimeout"/> and fails fast (a node found gone is not waited for); the last gets
/// the full timeout, so with one replica, or one survivor, a request still rides out a hand-off or re-homing. A
/// replica that times out or cannot be reached is suspected for <see cref="ReplicaPolicy.SuspectPeriod"/>: new
/// requests then go to its siblings first instead of each waiting out the same dead node. A group's own error
/// (<see cref="ExpertGroupException"/>) moves on too but raises no suspicion. With a <see cref="HedgePolicy"/>, a try
/// that has not answered within the hedge delay (from the group's observed latency) is joined by a try of the next
/// replica of the pass, and the first answer wins: a hung replica costs the delay, not its attempt timeout, and when
/// the hedge wins the replica it beat is suspected like a failed one. The loser still runs to its own end (the transport cannot recall a request); its result is released and its failure
/// still raises suspicion. When every try failed the call fails with an <see cref="ExpertGroupException"/> naming
/// the site, the route and the last error. Every try and every hedge is counted. Thread-safe.
/// </summary>
public sealed class ExpertGroupClient(IExpertGroupTransport transport, ReplicaPolicy policy, EngineCounters counters)
{
    private readonly ConcurrentDictionary<string, long> suspectUntil = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, LatencyWindow> latencies = new(StringComparer.Ordinal);
    // One rotation per replica set (keyed by its first id). A single counter shared by all groups would correlate
    // the groups' choices: a sequence asking layer 0's group then layer 2's takes consecutive counter values, so
    // with replica 0 of the two groups on different nodes both hops land on one node (it did: 2.4:1 on tiny).
    private readonly ConcurrentDictionary<string, StrongBox<int>> rotations = new(StringComparer.Ordinal);

    /// <summary>Takes ownership of <paramref name="input"/> (pass an alias detached from any dispose scope: it may be
    /// released on another thread); the result is owned by the caller.</summary>
    public async Task<Tensor> ApplyAsync(ExpertRequest request, IReadOnlyList<string> replicas, Tensor input)
    {
        Exception? last = null;
        int tries = 0;
        // Latency is tracked per replica set (its first id names it): replicas of one group do the same work.
        var observed = policy.Hedge is { } hedge && replicas.Count > 1 ? latencies.GetOrAdd(replicas[0], _ => hedge.NewWindow()) : null;
        try
        {
            for (int pass = 0; pass <= policy.Retries; pass++)
            {
                var order = Order(replicas);
                var running = new List<Try>();
                int i = 0;
                while (i < order.Length || running.Count > 0)
                {
                    if (running.Count == 0)
                    {
                        if (tries++ > 0) (pass > 0 && i == 0 ? counters.ExpertRetries : counters.ExpertFailovers).Increment();
                        running.Add(Start(order[i], request, input, lastOfPass: ++i == order.Length));
                    }
                    var answered = Task.WhenAny(running.Select(r => r.Task));
                    if (observed is not null && i < order.Length)
                    {
                        using var stopHedge = new CancellationTokenSource();
                        var hedgeTimer = Task.Delay(policy.Hedge!.Delay(observed), stopHedge.Token);
                        if (await Task.WhenAny(answered, hedgeTimer).ConfigureAwait(false) == hedgeTimer)
                        {
                            // Duplicate work on purpose: the first try may still answer, and its result is then dropped.
                            tries++;
                            counters.ExpertHedges.Increment();
                            running.Add(Start(order[i], request, input, lastOfPass: ++i == order.Length, hedge: true));
                            continue;
                        }
                        stopHedge.Cancel();
                    }
                    var first = await answered.ConfigureAwait(false);
                    var done = running.First(r => r.Task == first);
                    running.Remove(done);
                    try
                    {
                        var result = await done.Task.ConfigureAwait(false);
                        observed?.Add(done.Elapsed);
                        suspectUntil.TryRemove(done.Group, out _);
                        if (done.Hedge)
                        {
                            // The replica a hedge beat is treated like a failed one: later requests (the next layers of
                            // this very request included) go to its siblings first instead of each waiting a hedge delay.
                            counters.ExpertHedgeWins.Increment();
                            foreach (var loser in running) Suspect(loser.Group);
                        }
                        foreach (var loser in running) Abandon(loser, replicas.Count);
                        return result;
                    }
                    catch (Exception e)
                    {
                        last = Failed(done, e, replicas.Count);
                    }
                }
            }
            throw new ExpertGroupException($"{request.Site} route {request.SubRoute} failed after {tries} attempt(s): {last!.Message}", last);
        }
        finally
        {
            input.Dispose();
        }
    }

    /// <summary>One try of <paramref name="group"/>. The alias goes to another actor (maybe another thread): it must not
    /// belong to this thread's dispose scope.</summary>
    private Try Start(string group, ExpertRequest request, Tensor input, bool lastOfPass, bool hedge = false)
    {
        counters.ExpertRequests.Increment();
        var timeout = lastOfPass ? policy.Timeout : Min(policy.ReplicaAttemptTimeout, policy.Timeout);
        var task = transport.ApplyAsync(group, request, input.alias().DetachFromDisposeScope(), timeout, failFast: !lastOfPass);
        return new Try(group, request.Site, timeout, hedge, task, Stopwatch.GetTimestamp());
    }

    /// <summary>The error to report for a failed try; a replica that did not answer or could not be reached is suspected.</summary>
    private Exception Failed(Try t, Exception e, int replicaCount)
    {
        if (e is not ExpertGroupException && replicaCount > 1) Suspect(t.Group);
        return e is AskTimeoutException ? new TimeoutException($"expert group {t.Group} did not answer {t.Site} within {t.Timeout.TotalSeconds:0.#} s", e) : e;
    }

    private void Suspect(string group) =>
        suspectUntil[group] = Stopwatch.GetTimestamp() + (long)(policy.SuspectPeriod.TotalSeconds * Stopwatch.Frequency);

    /// <summary>A try that lost the race: its result is released when it comes, its failure still counts against its replica.</summary>
    private void Abandon(Try loser, int replicaCount) => loser.Task.ContinueWith(t =>
    {
        if (t.IsCompletedSuccessfully) t.Result.Dispose();
        else if (t.Exception is { } e) Failed(loser, e.GetBaseException(), replicaCount);
    }, TaskScheduler.Default);

    private sealed record Try(string Group, MoeSite Site, TimeSpan Timeout, bool Hedge, Task<Tensor> Task, long Started)
    {
        public TimeSpan Elapsed => Stopwatch.GetElapsedTime(Started);
    }

    /// <summary>The replicas from the next round-robin start, unsuspected ones first (each group keeps its rotation).</summary>
    private string[] Order(IReadOnlyList<string> replicas)
    {
        int n = replicas.Count;
        if (n == 1) return [replicas[0]];
        var rotation = rotations.GetOrAdd(replicas[0], _ => new StrongBox<int>());
        int start = (int)((uint)Interlocked.Increment(ref rotation.Value) % n);
        var rotated = Enumerable.Range(0, n).Select(k => replicas[(start + k) % n]).ToArray();
        if (suspectUntil.IsEmpty) return rotated;
        long now = Stopwatch.GetTimestamp();
        bool Suspected(string id) => suspectUntil.TryGetValue(id, out var until) && until > now;
        return [.. rotated.Where(id => !Suspected(id)), .. rotated.Where(Suspected)];
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
