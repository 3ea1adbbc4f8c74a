using UniPerceiverMoe.Actors.Diagnostics;

namespace UniPerceiverMoe.Actors.Tests.Diagnostics;

/// <summary><see cref="ResidentMappings"/> places each smaps mapping's resident pages under one kind, and the process's
/// own reading adds up to its VmRSS.</summary>
public sealed class ResidentMappingsSpecs
{
    private static readonly string[] Smaps =
    [
        "55d0c0a00000-55d0c0a21000 rw-p 00000000 00:00 0                          [heap]",
        "Size:                132 kB",
        "Rss:                 100 kB",
        "Anonymous:           100 kB",
        "7f0000000000-7f0000100000 rw-p 00000000 00:00 0 ",
        "Rss:                1000 kB",
        "7f0000200000-7f0000300000 r-xp 00000000 00:01 77                         /memfd:doublemapper (deleted)",
        "Rss:                  30 kB",
        "7f0000400000-7f0000500000 r--p 00000000 08:01 12                         /usr/share/dotnet/shared/Microsoft.NETCore.App/10.0.0/System.Private.CoreLib.dll",
        "Rss:                 200 kB",
        "7f0000600000-7f0000700000 r-xp 00000000 08:01 13                         /root/.nuget/packages/libtorch-cpu-linux-x64/2.10.0/runtimes/linux-x64/native/libtorch_cpu.so",
        "Rss:                4000 kB",
        "Private_Dirty:         8 kB",
        "7f0000800000-7f0000900000 r--p 00000000 08:01 14                         /usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30",
        "Rss:                   5 kB",
        "7f0000a00000-7f0000b00000 r--p 00000000 08:01 15                         /tmp/model.safetensors",
        "Rss:                   7 kB",
        "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]",
        "Rss:                  16 kB",
        "7ffd00100000-7ffd00102000 r-xp 00000000 00:00 0                          [vdso]",
        "Rss:                   4 kB",
        "VmFlags: rd ex mr mw me de sd",
    ];

    [Fact]
    public void Each_mappings_resident_pages_should_count_under_its_kind()
    {
        var m = ResidentMappings.Parse(Smaps);
        Assert.Equal((100 + 1000 + 16) * 1024L, m[MappingKind.Anonymous]);
        Assert.Equal(30 * 1024L, m[MappingKind.JitCode]);
        Assert.Equal(200 * 1024L, m[MappingKind.Assemblies]);
        Assert.Equal((4000 + 5) * 1024L, m[MappingKind.NativeLibraries]);
        Assert.Equal(7 * 1024L, m[MappingKind.OtherFiles]);
        Assert.Equal(4 * 1024L, m[MappingKind.Other]);
        Assert.Equal((100 + 1000 + 30 + 200 + 4000 + 5 + 7 + 16 + 4) * 1024L, m.Total);
    }

    [Fact]
    public void This_processs_mappings_should_add_up_to_its_resident_memory()
    {
        if (!OperatingSystem.IsLinux()) return;   // /proc only
        long before = ProcessCpu.ResidentBytes();
        var m = ResidentMappings.Read();
        long after = ProcessCpu.ResidentBytes();
        // smaps is read mapping by mapping while other test threads allocate: allow the process's own movement, plus 5 %.
        long slack = Math.Abs(after - before) + after / 20;
        Assert.InRange(m.Total, Math.Min(before, after) - slack, Math.Max(before, after) + slack);
        Assert.True(m[MappingKind.Anonymous] > 0 && m[MappingKind.NativeLibraries] > 0 && m[MappingKind.Assemblies] > 0,
            $"anonymous {m[MappingKind.Anonymous]}, native libraries {m[MappingKind.NativeLibraries]}, assemblies {m[MappingKind.Assemblies]}");
    }
}
