using System.Runtime.InteropServices;
using UniPerceiverMoe.Actors.Memory;

namespace UniPerceiverMoe.Actors.Tests.Memory;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class NativeHeapCollection
{
    /// <summary>Runs alone: other tests' engines allocate, free and trim the same process-wide C heap.</summary>
    public const string Name = "native heap";
}

/// <summary>With retention on, freed multi-megabyte blocks are reused instead of being faulted in again.</summary>
[Collection(NativeHeapCollection.Name)]
public sealed class NativeHeapSpecs
{
    [Fact]
    public void Freed_blocks_should_stay_in_the_arenas_once_retention_is_on()
    {
        if (!OperatingSystem.IsLinux()) return;    // glibc only; elsewhere RetainFreedMemory does nothing and says so
        Assert.True(NativeHeap.RetainFreedMemory());
        // Three 8 MiB activations freed together leave 24 MiB free at the arena's top: glibc's default trim threshold
        // (twice the dynamic mmap threshold, 16 MiB here) gives it back and the next round faults it in again
        // (61,626 faults for these 10 rounds without retention). Faults are counted for one thread: a page is faulted
        // in by the thread that touches it. That thread first fills 48 of its arena heap's 64 MiB with blocks it holds
        // (a busy engine thread's arena): the rounds' blocks then need another heap, which free() unmapped at every round
        // unless the top pad keeps it (43,023 faults in one of two runs without the pad, depending on which arena the
        // thread gets; a fresh-clone CI run failed that way on the test runner's own thread).
        const int block = 8 << 20, rounds = 10, held = 24 << 20;
        long faults = 0;
        var worker = new Thread(() =>
        {
            nint[] heldBlocks = [Allocate(held), Allocate(held)];                // 48 of the heap's 64 MiB
            long before = ThreadMinorFaults();
            for (int round = 0; round < rounds; round++)
            {
                var blocks = new nint[3];
                for (int i = 0; i < blocks.Length; i++) blocks[i] = Allocate(block);
                foreach (var b in blocks) Free(b);
            }
            faults = ThreadMinorFaults() - before;
            foreach (var b in heldBlocks) Free(b);
        });
        worker.Start();
        worker.Join();
        long perRound = 3 * block / 4096;
        Assert.True(faults < 4 * perRound, $"{faults} minor faults in {rounds} rounds ({perRound} pages a round): freed blocks were faulted in again");
    }

    /// <summary>A block of <paramref name="bytes"/> from malloc with every page touched.</summary>
    private static unsafe nint Allocate(int bytes)
    {
        var p = NativeMemory.Alloc((nuint)bytes);
        new Span<byte>(p, bytes).Fill(1);
        return (nint)p;
    }

    private static unsafe void Free(nint block) => NativeMemory.Free((void*)block);

    /// <summary>minflt of the calling thread (field 10 of /proc/thread-self/stat).</summary>
    private static long ThreadMinorFaults() => long.Parse(File.ReadAllText("/proc/thread-self/stat").Split(')')[1].Split(' ')[8]);

    [Fact]
    public void The_c_heaps_usage_should_grow_by_a_block_held_and_fall_when_it_is_freed()
    {
        if (!OperatingSystem.IsLinux() || NativeHeap.Usage() is null) return;   // glibc 2.33+ only; elsewhere Usage says so with null
        const int bytes = 64 << 20;   // above any mmap threshold: mapped on its own, so small blocks cannot hide it (this collection runs alone)
        long before = NativeHeap.Usage()!.Mapped;
        nint block = Marshal.AllocHGlobal(bytes);
        try
        {
            Assert.InRange(NativeHeap.Usage()!.Mapped - before, bytes, bytes + (16L << 20));
        }
        finally
        {
            Marshal.FreeHGlobal(block);
        }
        Assert.True(NativeHeap.Usage()!.Mapped - before < bytes / 2);
    }
}
