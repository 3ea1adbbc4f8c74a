using UniPerceiverMoe.Streams.Settings;
using Akka.Streams;
using Akka.Streams.Stage;

namespace UniPerceiverMoe.Streams.Flows;

/// <summary>
/// A bounded buffer that never holds more than <c>capacity</c> elements and, unlike the stock
/// <c>Buffer(n, OverflowStrategy.DropHead)</c>, reports every element it discards (no silent loss):
/// <list type="bullet">
/// <item><see cref="OverloadPolicy.DropOldest"/>: a full buffer drops its oldest element to admit the new one;
/// upstream is never back-pressured (a live source keeps its pace).</item>
/// <item><see cref="OverloadPolicy.KeepLatest"/>: a new element drops every waiting one (capacity 1).</item>
/// <item><see cref="OverloadPolicy.Backpressure"/>: a full buffer stops pulling; nothing is dropped.</item>
/// </list>
/// Upstream completion or failure is signalled after the buffered elements are emitted; downstream cancellation
/// (the stream was removed or failed further down) discards what is buffered through <c>onDrop</c>.
/// <c>onOccupancy</c> sees the element count after every change.
/// </summary>
public sealed class OverloadBuffer<T> : GraphStage<FlowShape<T, T>>
{
    private readonly int capacity;
    private readonly OverloadPolicy policy;
    private readonly Action<T> onDrop;
    private readonly Action<int> onOccupancy;

    public OverloadBuffer(int capacity, OverloadPolicy policy, Action<T> onDrop, Action<int> onOccupancy)
    {
        if (policy == OverloadPolicy.Auto) throw new ArgumentException("resolve OverloadPolicy.Auto before building the buffer", nameof(policy));
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        this.capacity = policy == OverloadPolicy.KeepLatest ? 1 : capacity;
        this.policy = policy;
        this.onDrop = onDrop;
        this.onOccupancy = onOccupancy;
        Shape = new FlowShape<T, T>(In, Out);
    }

    public Inlet<T> In { get; } = new("overload.in");
    public Outlet<T> Out { get; } = new("overload.out");
    public override FlowShape<T, T> Shape { get; }

    protected override GraphStageLogic CreateLogic(Attributes inheritedAttributes) => new Logic(this);

    private sealed class Logic : InAndOutGraphStageLogic
    {
        private readonly OverloadBuffer<T> s;
        private readonly Queue<T> queue = new();
        private bool upstreamDone;
        private Exception? upstreamFailure;

        public Logic(OverloadBuffer<T> stage) : base(stage.Shape)
        {
            s = stage;
            SetHandler(stage.In, this);
            SetHandler(stage.Out, this);
        }

        public override void PreStart() => Pull(s.In);

        public override void OnPush()
        {
            var element = Grab(s.In);
            if (queue.Count == s.capacity && s.policy != OverloadPolicy.Backpressure) s.onDrop(queue.Dequeue());
            queue.Enqueue(element);
            if (IsAvailable(s.Out)) Push(s.Out, queue.Dequeue());
            s.onOccupancy(queue.Count);
            if (queue.Count < s.capacity || s.policy != OverloadPolicy.Backpressure) Pull(s.In);
        }

        public override void OnPull()
        {
            if (queue.Count > 0)
            {
                Push(s.Out, queue.Dequeue());
                s.onOccupancy(queue.Count);
                if (!upstreamDone && !HasBeenPulled(s.In)) Pull(s.In);
            }
            if (queue.Count == 0 && upstreamDone) Finish();
        }

        public override void OnUpstreamFinish()
        {
            upstreamDone = true;
            if (queue.Count == 0) Finish();
        }

        public override void OnUpstreamFailure(Exception e)
        {
            upstreamDone = true;
            upstreamFailure = e;
            if (queue.Count == 0) Finish();
        }

        public override void OnDownstreamFinish(Exception cause)
        {
            DropAll();
            base.OnDownstreamFinish(cause);
        }

        public override void PostStop() => DropAll();

        private void Finish()
        {
            if (upstreamFailure is { } e) FailStage(e);
            else CompleteStage();
        }

        private void DropAll()
        {
            if (queue.Count == 0) return;
            while (queue.TryDequeue(out var e)) s.onDrop(e);
            s.onOccupancy(0);
        }
    }
}
