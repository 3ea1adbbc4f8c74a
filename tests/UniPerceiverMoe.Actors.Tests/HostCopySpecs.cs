using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using UniPerceiverMoe.Actors.Serialization;

namespace UniPerceiverMoe.Actors.Tests;

/// <summary>
/// Tensors cross between torch memory and the host (or between devices) on the expert path only through
/// <see cref="DeviceStaging"/>: no other code of the Actors assembly forces a <c>.cpu()</c>, a device move, a copy or
/// reads tensor memory. Read from the assembly's IL, so a new call anywhere shows up here.
/// </summary>
public sealed class HostCopySpecs
{
    /// <summary>TorchSharp Tensor members that copy to or from a device, or read a tensor's host memory.</summary>
    private static readonly HashSet<string> Crossing = ["cpu", "cuda", "to", "copy_", "pin_memory", "get_bytes", "data", "item"];

    /// <summary>Who may call them: the staging itself, the payload codec (reads the staged host tensor's bytes), and
    /// the checkpoint loader (places a group's experts on its device once, at load).</summary>
    private static readonly HashSet<string> Allowed = ["DeviceStaging", "TensorPayloads", "CheckpointExpertWeights"];

    [Fact]
    public void Only_the_staging_should_copy_tensors_between_device_and_host()
    {
        var offenders = CallersOfCrossingMembers(typeof(DeviceStaging).Assembly.Location)
            .Where(c => !Allowed.Contains(c.Type))
            .Select(c => $"{c.Type}.{c.Method} calls Tensor.{c.Member}")
            .ToArray();
        Assert.Empty(offenders);
    }

    [Fact]
    public void The_scan_should_see_the_staging_s_own_calls()
    {
        // Guards the scan itself: were it blind, the spec above could not fail.
        var calls = CallersOfCrossingMembers(typeof(DeviceStaging).Assembly.Location);
        Assert.Contains(calls, c => c.Type == "DeviceStaging" && c.Member == "pin_memory");
        Assert.Contains(calls, c => c.Type == "TensorPayloads" && c.Member == "get_bytes");
    }

    private static IReadOnlyList<(string Type, string Method, string Member)> CallersOfCrossingMembers(string assemblyPath)
    {
        using var pe = new PEReader(File.OpenRead(assemblyPath));
        var metadata = pe.GetMetadataReader();
        var tokens = new Dictionary<int, string>();
        foreach (var handle in metadata.MemberReferences)
        {
            var member = metadata.GetMemberReference(handle);
            if (member.Parent.Kind != HandleKind.TypeReference) continue;
            var type = metadata.GetTypeReference((TypeReferenceHandle)member.Parent);
            if (metadata.GetString(type.Name) != "Tensor") continue;
            string name = metadata.GetString(member.Name);
            if (Crossing.Contains(name)) tokens[MetadataTokens.GetToken(handle)] = name;
        }
        // Generic calls (data<T>) go through a MethodSpec whose method is the member reference.
        for (int row = 1; row <= metadata.GetTableRowCount(TableIndex.MethodSpec); row++)
        {
            var handle = MetadataTokens.MethodSpecificationHandle(row);
            var spec = metadata.GetMethodSpecification(handle);
            if (spec.Method.Kind == HandleKind.MemberReference && tokens.TryGetValue(MetadataTokens.GetToken(spec.Method), out var name))
                tokens[MetadataTokens.GetToken(handle)] = name;
        }
        var result = new List<(string, string, string)>();
        foreach (var handle in metadata.MethodDefinitions)
        {
            var method = metadata.GetMethodDefinition(handle);
            if (method.RelativeVirtualAddress == 0) continue;
            var il = pe.GetMethodBody(method.RelativeVirtualAddress).GetILBytes() ?? [];
            var declaring = metadata.GetTypeDefinition(method.GetDeclaringType());
            // Lambdas and local functions live in nested compiler types: report the outermost declared type.
            var outer = declaring;
            while (outer.GetDeclaringType() is { IsNil: false } parent) outer = metadata.GetTypeDefinition(parent);
            for (int i = 0; i + 4 < il.Length; i++)
            {
                if (il[i] is not (0x28 or 0x6F)) continue;   // call, callvirt
                if (tokens.TryGetValue(BitConverter.ToInt32(il, i + 1), out var member))
                    result.Add((metadata.GetString(outer.Name), metadata.GetString(method.Name), member));
            }
        }
        return result;
    }
}
