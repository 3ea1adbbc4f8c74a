using Akka;
using Akka.Streams.Dsl;

namespace UniPerceiverMoe.Streams.Flows;

/// <summary>
/// The ordered emission of the batching stage (<see cref="EngineFlows"/>' <c>RunEach</c>): each element is emitted as
/// soon as it and every element before it have their results, not when its whole batch is done. At most
/// <c>parallelism</c> batches run at once per materialization: a batch starts when one of its slots is free, and frees
/// it when every element has its result.
/// </summary>
internal static class OrderedBatches
{
    /// <summary>A batch's run: the elements' results in order when it is done; it may tell <c>settled</c>(index, result)
    /// of some elements before then.</summary>
    public delegate Task<IReadOnlyList<Ran<T>>> BatchRun<T>(T[] batch, Action<int, Ran<T>> settled);

    public static Flow<T, Ran<T>, NotUsed> Emit<T>(Flow<T, IEnumerable<T>, NotUsed> batches, int parallelism, int maxBatch, BatchRun<T> run) =>
        Flow.Setup<T, Ran<T>, NotUsed>((_, _) =>
            {
                var slots = new SemaphoreSlim(parallelism);       // this materialization's forwards in flight
                return batches
                    .SelectAsync(1, batch => StartAsync(slots, batch.ToArray(), run))
                    .SelectMany(pending => pending)
                    // Room for every element of the batches in flight and as many again waiting behind an earlier one.
                    .SelectAsync(2 * parallelism * maxBatch, result => result);
            })
            .MapMaterializedValue(_ => NotUsed.Instance);

    /// <summary>Waits for a free slot, starts the batch, and returns one task per element, in order.</summary>
    private static async Task<IEnumerable<Task<Ran<T>>>> StartAsync<T>(SemaphoreSlim slots, T[] batch, BatchRun<T> run)
    {
        await slots.WaitAsync().ConfigureAwait(false);
        var pending = batch.Select(_ => new TaskCompletionSource<Ran<T>>(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        _ = CompleteAsync();
        return pending.Select(p => p.Task).ToArray();

        async Task CompleteAsync()
        {
            try
            {
                var results = await run(batch, (i, ran) => pending[i].TrySetResult(ran)).ConfigureAwait(false);
                for (int i = 0; i < pending.Length; i++) pending[i].TrySetResult(results[i]);   // a no-op for those settled early
            }
            catch (Exception e)
            {
                foreach (var p in pending) p.TrySetException(e);
            }
            finally
            {
                slots.Release();
            }
        }
    }
}
