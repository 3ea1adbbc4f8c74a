using Akka.Actor;
using UniPerceiverMoe.Actors.ExpertGroups;
using UniPerceiverMoe.Model.Routing;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Actors.Dispatch;

/// <summary>
/// Sends one route part to one of its replica groups with retries: replicas are used round-robin, a failed or
/// timed-out attempt moves to the next replica, and after the configured retries the call fails with an
/// <see cref="ExpertGroupException"/> naming the site, the route and the last error. Every attempt is counted.
/// Thread-safe.
/// </summary>
public sealed class ExpertGroupClient(IExpertGroupTransport transport, TimeSpan timeout, int retries, EngineCounters counters)
{
    private int roundRobin;

    /// <summary>Takes ownership of <paramref name="input"/> (pass an alias detached from any dispose scope: it may be
    /// released on another thread); the result is owned by the caller.</summary>
    public async Task<Tensor> ApplyAsync(MoeSite site, IReadOnlyList<string> replicas, Route subRoute, Tensor input, ThenLinear? then = null)
    {
        Exception? last = null;
        try
        {
            for (int attempt = 0; attempt <= retries; attempt++)
            {
                var id = replicas[(int)((uint)Interlocked.Increment(ref roundRobin) % replicas.Count)];
                if (attempt > 0) counters.ExpertRetries.Increment();
                counters.ExpertRequests.Increment();
                try
                {
                    // The alias goes to another actor (maybe another thread): it must not belong to this thread's dispose scope.
                    return await transport.ApplyAsync(id, site, subRoute, input.alias().DetachFromDisposeScope(), timeout, then).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    last = e is AskTimeoutException ? new TimeoutException($"expert group {id} did not answer {site} within {timeout.TotalSeconds:0.#} s", e) : e;
                }
            }
            throw new ExpertGroupException($"{site} route {subRoute} failed after {retries + 1} attempt(s): {last!.Message}", last);
        }
        finally
        {
            input.Dispose();
        }
    }
}
