using UniPerceiverMoe.Model.Modules;
using Xunit;
using static TorchSharp.torch;

namespace UniPerceiverMoe.Model.Tests.Modules;

/// <summary>
/// <see cref="SerialTorchOps"/>: inside the scope libtorch runs this thread's ops on one thread while the kernels keep
/// their parallelism; other threads keep theirs; leaving restores both, nested scopes included; and an op computes
/// the same bits serially as in parallel.
/// </summary>
public sealed class SerialTorchOpsSpecs
{
    /// <summary>Synchronous on purpose: the scope belongs to the thread that entered it, and an await inside it could
    /// resume the spec on another thread (it did, once, in CI).</summary>
    [Fact]
    public void It_should_make_only_this_threads_libtorch_ops_serial_and_restore_them()
    {
        int saved = get_num_threads();
        set_num_threads(2);
        // Another thread with its own libtorch count of 2 (set before the scope, so specs that change the
        // process-wide count meanwhile cannot move it); it reads its count again while this thread is inside the scope.
        using var inScope = new ManualResetEventSlim();
        int before = 0, during = 0;
        var other = new Thread(() =>
        {
            set_num_threads(2);
            before = get_num_threads();
            inScope.Wait();
            during = get_num_threads();
        });
        other.Start();
        try
        {
            Assert.Equal(2, KernelThreads.Parallelism);
            using (SerialTorchOps.Enter())
            {
                Assert.Equal(1, get_num_threads());
                Assert.Equal(2, KernelThreads.Parallelism);
                inScope.Set();
                other.Join();
                Assert.Equal((2, 2), (before, during));
                using (SerialTorchOps.Enter())
                {
                    Assert.Equal(1, get_num_threads());
                    Assert.Equal(2, KernelThreads.Parallelism);
                }
                Assert.Equal(1, get_num_threads());
                Assert.Equal(2, KernelThreads.Parallelism);
            }
            Assert.Equal(2, get_num_threads());
            Assert.Equal(2, KernelThreads.Parallelism);
        }
        finally
        {
            inScope.Set();
            set_num_threads(saved);
        }
    }

    [Fact]
    public void A_lift_should_give_back_libtorchs_count_inside_the_scope_only_until_disposed()
    {
        int saved = get_num_threads();
        set_num_threads(2);
        try
        {
            using (SerialTorchOps.Lift()) Assert.Equal(2, get_num_threads());          // outside any scope: nothing to lift
            Assert.Equal(2, get_num_threads());
            using (SerialTorchOps.Enter())
            {
                using (SerialTorchOps.Lift()) Assert.Equal(2, get_num_threads());
                Assert.Equal(1, get_num_threads());
                using (SerialTorchOps.Enter())
                using (SerialTorchOps.Lift())
                    Assert.Equal(2, get_num_threads());                                 // a nested scope lifts to the outer count
                Assert.Equal(1, get_num_threads());
            }
            Assert.Equal(2, get_num_threads());
        }
        finally
        {
            set_num_threads(saved);
        }
    }

    [Fact]
    public void A_log_softmax_over_a_full_bank_should_get_the_same_bits_serially()
    {
        using var logits = randn([16, 49411], generator: new Generator(14));
        SameBitsSerially("log_softmax", () => logits.log_softmax(-1));
    }

    [Fact]
    public void A_layer_norm_should_get_the_same_bits_serially()
    {
        using var x = randn([8, 768], generator: new Generator(11));
        using var weight = randn([768], generator: new Generator(12));
        using var bias = randn([768], generator: new Generator(13));
        SameBitsSerially("layer_norm", () => nn.functional.layer_norm(x, [768], weight, bias));
    }

    /// <summary>Runs <paramref name="op"/> with libtorch at two threads, then inside the serial scope, and requires
    /// the same bits.</summary>
    private static void SameBitsSerially(string name, Func<Tensor> op)
    {
        int saved = get_num_threads();
        set_num_threads(2);
        try
        {
            using var parallel = op();
            Tensor serial;
            using (SerialTorchOps.Enter()) serial = op();
            using (serial)
            using (var equal = serial.eq(parallel))
            using (var all = equal.all())
                Assert.True(all.item<bool>(), $"{name} gave different bits on one thread");
        }
        finally
        {
            set_num_threads(saved);
        }
    }
}
