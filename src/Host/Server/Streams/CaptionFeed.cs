using System.Threading.Channels;

namespace UniPerceiverMoe.Host.Server.Streams;

/// <summary>One server-sent event: its type (caption, end) and JSON data.</summary>
public sealed record FeedEvent(string Type, string Id, string Json);

/// <summary>
/// Fans a stream's captions out to its event-stream clients. Keeps the last <c>recent</c> captions and replays them
/// to each new subscriber first. Publishing never blocks the stream: each subscriber has a bounded queue that drops
/// its oldest event when the client reads too slowly, and the drops are counted on the subscription.
/// </summary>
public sealed class CaptionFeed(int recent)
{
    private const int SubscriberCapacity = 256;
    private readonly object gate = new();
    private readonly Queue<FeedEvent> history = new();
    private readonly List<Subscription> subscribers = [];
    private bool completed;

    public int Subscribers
    {
        get { lock (gate) return subscribers.Count; }
    }

    public IReadOnlyList<FeedEvent> Recent
    {
        get { lock (gate) return history.ToArray(); }
    }

    public void Publish(FeedEvent e)
    {
        lock (gate)
        {
            if (completed) return;
            history.Enqueue(e);
            while (history.Count > recent) history.Dequeue();
            foreach (var s in subscribers) s.Writer.TryWrite(e);
        }
    }

    /// <summary>Ends every subscription (after the events already queued) and refuses further events.</summary>
    public void Complete()
    {
        lock (gate)
        {
            completed = true;
            foreach (var s in subscribers) s.Writer.TryComplete();
        }
    }

    /// <summary>A subscription that starts with the recent captions; already complete when the feed is.</summary>
    public Subscription Subscribe()
    {
        lock (gate)
        {
            var subscription = new Subscription(this);
            foreach (var e in history) subscription.Writer.TryWrite(e);
            if (completed) subscription.Writer.TryComplete();
            else subscribers.Add(subscription);
            return subscription;
        }
    }

    private void Remove(Subscription s)
    {
        lock (gate) subscribers.Remove(s);
    }

    public sealed class Subscription : IDisposable
    {
        private readonly CaptionFeed feed;
        private readonly Channel<FeedEvent> channel;
        private long dropped;

        internal Subscription(CaptionFeed feed)
        {
            this.feed = feed;
            channel = Channel.CreateBounded<FeedEvent>(new BoundedChannelOptions(SubscriberCapacity)
            {
                FullMode = BoundedChannelFullMode.DropOldest,
                SingleReader = true,
            }, _ => Interlocked.Increment(ref dropped));
        }

        internal ChannelWriter<FeedEvent> Writer => channel.Writer;
        public ChannelReader<FeedEvent> Reader => channel.Reader;

        /// <summary>Events this client missed because it read too slowly.</summary>
        public long Dropped => Interlocked.Read(ref dropped);

        public void Dispose() => feed.Remove(this);
    }
}
