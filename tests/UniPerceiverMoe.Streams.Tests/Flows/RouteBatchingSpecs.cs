using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Streams;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Actors.Engine;
using UniPerceiverMoe.Model.Routing;
using UniPerceiverMoe.Streams.Flows;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Streams.Tests.Flows;

/// <summary>The batching stage groups by route tag: every forward gets one tag, and each of its elements carries it.</summary>
public sealed class RouteBatchingSpecs : IDisposable
{
    private readonly ActorSystem system = ActorSystem.Create("route-batching-specs");

    [Fact]
    public async Task Elements_of_different_route_tags_should_never_share_a_forward()
    {
        RouteTag[] tags = [RouteTag.Caption, RouteTag.Classification, new(MoeAttribute.TextMlmInput, RouteHead.Features)];
        // Element i: a one-frame clip filled with i; its tag cycles through the three (a mixed-task arrival order).
        var elements = Enumerable.Range(0, 60).Select(i => (Index: i, Tag: tags[i * 7 % 3], Pixels: tensor(Enumerable.Repeat((float)i, 12).ToArray(), [1, 3, 2, 2]))).ToArray();
        try
        {
            var forwards = new ConcurrentQueue<(RouteTag Tag, int[] Members)>();
            TaggedBatchRunner runner = (tag, clips, _) =>
            {
                // Which elements are in this forward: clip b is filled with its element's index.
                using var firstValues = clips.select(1, 0).select(1, 0).select(1, 0).select(1, 0).cpu();
                var members = firstValues.data<float>().Select(v => (int)v).ToArray();
                forwards.Enqueue((tag, members));
                return Task.FromResult(new TaggedResult(tag, null, members.Select(m => new[] { (float)m }).ToArray()));
            };
            var results = await Source.From(elements)
                .Via(EngineFlows.RunEach<(int Index, RouteTag Tag, Tensor Pixels)>(runner, e => e.Tag, e => e.Pixels, parallelism: 2, maxBatch: 8,
                    maxDelay: TimeSpan.FromMilliseconds(50), ordered: true))
                .RunWith(Sink.Seq<Ran<(int Index, RouteTag Tag, Tensor Pixels)>>(), system.Materializer());

            Assert.Equal(60, results.Count);
            Assert.All(results, r => Assert.Equal(r.Item.Tag, r.Result!.Tag));
            Assert.All(results, r => Assert.Equal(r.Item.Index, (int)r.Result!.Features![0]));
            Assert.Equal(60, forwards.Sum(f => f.Members.Length));
            Assert.Contains(forwards, f => f.Members.Length > 1);      // batching still happens within a route
            foreach (var (tag, members) in forwards)
                Assert.All(members, m => Assert.Equal(tag, elements[m].Tag));
        }
        finally
        {
            foreach (var e in elements) e.Pixels.Dispose();
        }
    }

    public void Dispose() => system.Terminate().Wait();
}
