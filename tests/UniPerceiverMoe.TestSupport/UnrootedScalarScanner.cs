using System.Collections.Immutable;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace UniPerceiverMoe.TestSupport;

/// <summary>
/// Finds, in a compiled assembly, every call into TorchSharp that creates a native Scalar nothing holds (see
/// src/Model/TorchScalar.cs for why that crashes libtorch at random): implicit number→Scalar conversions, and the
/// TorchSharp overloads that pass such a Scalar themselves. Reads the metadata's member references, so it sees
/// calls the compiler inserted (operators, implicit conversions) that a text search would miss.
/// </summary>
public static class UnrootedScalarScanner
{
    /// <summary>One offending reference: the TorchSharp member as "Type::method(params)", why it is unsafe, and the
    /// methods whose IL calls it (compiler-generated names for lambdas).</summary>
    public sealed record Finding(string Member, string Reason, IReadOnlyList<string> Callers)
    {
        public override string ToString() => $"{Member} in {string.Join(", ", Callers)}: {Reason}";
    }

    public static IReadOnlyList<Finding> Scan(Assembly assembly) => Scan(assembly.Location);

    public static IReadOnlyList<Finding> Scan(string assemblyPath)
    {
        using var pe = new PEReader(File.OpenRead(assemblyPath));
        var metadata = pe.GetMetadataReader();
        var types = new TypeNames();
        var unsafeMembers = new Dictionary<int, (string Member, string Reason)>();
        foreach (var handle in metadata.MemberReferences)
        {
            var member = metadata.GetMemberReference(handle);
            if (member.GetKind() != MemberReferenceKind.Method || member.Parent.Kind != HandleKind.TypeReference) continue;
            string type = TypeNames.Of(metadata, (TypeReferenceHandle)member.Parent);
            if (!type.StartsWith("TorchSharp.", StringComparison.Ordinal)) continue;
            string name = metadata.GetString(member.Name);
            var parameters = member.DecodeMethodSignature(types, null).ParameterTypes;
            string? reason = Why(type, name, parameters);
            if (reason is not null) unsafeMembers[MetadataTokens.GetToken(handle)] = ($"{type}::{name}({string.Join(", ", parameters)})", reason);
        }
        var callers = Callers(pe, metadata, unsafeMembers.Keys.ToHashSet());
        return unsafeMembers
            .Select(m => new Finding(m.Value.Member, m.Value.Reason, callers.TryGetValue(m.Key, out var c) ? c.Order().ToArray() : ["?"]))
            .ToArray();
    }

    /// <summary>token → "Type.Method" of every method body holding a call, callvirt, newobj or ldftn of that token.
    /// A byte-pattern walk of the IL: an operand that merely looks like such an instruction would add a caller, never
    /// hide one.</summary>
    private static Dictionary<int, HashSet<string>> Callers(PEReader pe, MetadataReader metadata, HashSet<int> tokens)
    {
        var result = new Dictionary<int, HashSet<string>>();
        foreach (var handle in metadata.MethodDefinitions)
        {
            var method = metadata.GetMethodDefinition(handle);
            if (method.RelativeVirtualAddress == 0) continue;
            var il = pe.GetMethodBody(method.RelativeVirtualAddress).GetILBytes() ?? [];
            for (int i = 1; i + 4 < il.Length; i++)
            {
                bool callLike = il[i] is 0x28 or 0x6F or 0x73 || (il[i] == 0x06 && il[i - 1] == 0xFE);
                if (!callLike) continue;
                int token = BitConverter.ToInt32(il, i + 1);
                if (!tokens.Contains(token)) continue;
                string caller = $"{metadata.GetString(metadata.GetTypeDefinition(method.GetDeclaringType()).Name)}.{metadata.GetString(method.Name)}";
                (result.TryGetValue(token, out var set) ? set : result[token] = []).Add(caller);
            }
        }
        return result;
    }

    private static readonly HashSet<string> Optimizers = new(StringComparer.Ordinal)
    {
        "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "SGD", "ASGD", "RMSProp", "Rprop", "Adagrad", "Adadelta", "LBFGS",
    };

    private static string? Why(string type, string name, ImmutableArray<string> parameters)
    {
        const string Tensor = "TorchSharp.torch.Tensor";
        int scalars = parameters.Count(p => p == "TorchSharp.Scalar");
        return (type, name) switch
        {
            ("TorchSharp.Scalar", "op_Implicit") => "implicit conversion to a Scalar nothing holds; use TorchScalar.Use",
            (Tensor, "op_Addition") => "operator + calls add(t, 1) with an unheld alpha; use Plus",
            (Tensor, _) when name.StartsWith("op_", StringComparison.Ordinal) && parameters.Any(p => p != Tensor) =>
                "tensor operator with a number or Scalar converts or passes it unheld; call the method with TorchScalar.Use",
            (Tensor, "add" or "add_") when parameters.Length == 1 => "add(x) passes an unheld alpha of 1; use Plus / PlusInPlace",
            (Tensor, "addcdiv" or "addcdiv_") when parameters.Length == 2 => "addcdiv(a, b) passes an unheld value of 1",
            ("TorchSharp.torch", "arange") when scalars < 3 => "arange(stop) / arange(start, stop) pass unheld 0 / 1; use TorchScalar.Arange",
            ("TorchSharp.torch.optim", _) when Optimizers.Contains(name) => "TorchSharp's optimizers pass their coefficients unheld; use HeldScalarAdam",
            _ => null,
        };
    }

    private sealed class TypeNames : ISignatureTypeProvider<string, object?>
    {
        public static string Of(MetadataReader metadata, TypeReferenceHandle handle)
        {
            var reference = metadata.GetTypeReference(handle);
            string name = metadata.GetString(reference.Name);
            return reference.ResolutionScope.Kind == HandleKind.TypeReference
                ? Of(metadata, (TypeReferenceHandle)reference.ResolutionScope) + "." + name   // nested: torch.Tensor
                : metadata.GetString(reference.Namespace) + "." + name;
        }

        public string GetArrayType(string elementType, ArrayShape shape) => elementType + "[,]";
        public string GetByReferenceType(string elementType) => elementType + "&";
        public string GetFunctionPointerType(MethodSignature<string> signature) => "fnptr";
        public string GetGenericInstantiation(string genericType, ImmutableArray<string> typeArguments) => $"{genericType}<{string.Join(",", typeArguments)}>";
        public string GetGenericMethodParameter(object? context, int index) => "!!" + index;
        public string GetGenericTypeParameter(object? context, int index) => "!" + index;
        public string GetModifiedType(string modifier, string unmodifiedType, bool isRequired) => unmodifiedType;
        public string GetPinnedType(string elementType) => elementType;
        public string GetPointerType(string elementType) => elementType + "*";
        public string GetPrimitiveType(PrimitiveTypeCode typeCode) => typeCode.ToString();
        public string GetSZArrayType(string elementType) => elementType + "[]";
        public string GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind) => reader.GetString(reader.GetTypeDefinition(handle).Name);
        public string GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => Of(reader, handle);
        public string GetTypeFromSpecification(MetadataReader reader, object? context, TypeSpecificationHandle handle, byte rawTypeKind) => "typespec";
    }
}
