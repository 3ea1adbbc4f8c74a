using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Streams;
using Akka.Streams.Dsl;
using UniPerceiverMoe.Streams.Sources;

namespace UniPerceiverMoe.Streams.Tests.Feeds;

/// <summary>Text feeds without an engine: a followed file yields its lines and then the lines appended to it, a TCP
/// feed yields the lines its clients write, and a feed that cannot be opened is refused with its name.</summary>
public sealed class TextSourceSpecs : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly ActorSystem system = ActorSystem.Create("text-sources");

    [Fact]
    public async Task A_followed_file_should_yield_its_lines_then_the_lines_appended_to_it()
    {
        var path = Path.GetTempFileName();
        await File.WriteAllTextAsync(path, "first\n\nsecond\npart");
        var (stop, lines) = TextSources.FollowFile(path, TimeSpan.FromMilliseconds(20))
            .ViaMaterialized(KillSwitches.Single<string>(), Keep.Right)
            .Take(4)
            .ToMaterialized(Sink.Seq<string>(), Keep.Both)
            .Run(system.Materializer());
        await Task.Delay(200);
        await File.AppendAllTextAsync(path, "ial third\nfourth\n");
        var got = await lines.WaitAsync(Timeout);
        stop.Shutdown();
        Assert.Equal(["first", "second", "partial third", "fourth"], got);      // a partial line waits for its newline
    }

    [Fact]
    public async Task A_tcp_feed_should_yield_the_lines_its_clients_write()
    {
        var bound = new TaskCompletionSource<IPEndPoint>();
        var lines = TextSources.TcpLines(new IPEndPoint(IPAddress.Loopback, 0), bound.SetResult)
            .Take(3)
            .RunWith(Sink.Seq<string>(), system.Materializer());
        var endpoint = await bound.Task.WaitAsync(Timeout);
        foreach (var text in new[] { "a clock\n", "a red car\n\na person falls\n" })
        {
            using var client = new TcpClient();
            await client.ConnectAsync(endpoint);
            await client.GetStream().WriteAsync(System.Text.Encoding.UTF8.GetBytes(text));
        }
        // Connections are merged as their lines arrive: any interleaving of the two clients, each client's lines in order.
        var got = (await lines.WaitAsync(Timeout)).ToList();
        Assert.Equal(["a clock", "a person falls", "a red car"], got.Order());
        Assert.True(got.IndexOf("a red car") < got.IndexOf("a person falls"), string.Join(" | ", got));
    }

    [Theory]
    [InlineData("/no/such/feed.txt", "no such file")]
    [InlineData("tcp://not-an-address", "expected tcp://ADDRESS:PORT")]
    public void A_feed_that_cannot_be_opened_should_be_refused_naming_it(string feed, string reason)
    {
        var error = Assert.Throws<ArgumentException>(() => TextSources.Open(feed, TextReader.Null));
        Assert.Contains(feed, error.Message);
        Assert.Contains(reason, error.Message);
    }

    public void Dispose() => system.Terminate().Wait();
}
