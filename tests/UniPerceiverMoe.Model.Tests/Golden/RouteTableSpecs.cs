using System.Globalization;
using System.Text.RegularExpressions;
using UniPerceiverMoe.Model.Routing;
using Xunit.Abstractions;
using static TorchSharp.torch;

using UniPerceiverMoe.TestSupport;

namespace UniPerceiverMoe.Model.Tests.Golden;

/// <summary>Gate softmax, top-2 and the route table against the reference's TopKGate outputs and the fixture README.</summary>
[Trait("Category", "Golden")]
public sealed partial class RouteTableSpecs(ITestOutputHelper output)
{
    /// <summary>moe.layer{i}.{attn,ffn}.{attribute}.{top2,gates,softmax} for every recorded attribute.</summary>
    [Fact]
    public void Gate_decisions_should_match_every_recorded_layer_gate_and_attribute()
    {
        var keys = GoldenFixture.Outputs.Keys.Where(k => k.StartsWith("moe.", StringComparison.Ordinal) && k.EndsWith(".top2", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(keys);
        foreach (var key in keys)
        {
            var m = GateKey().Match(key);
            Assert.True(m.Success, key);
            int layer = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
            var gate = m.Groups[2].Value == "attn" ? MoeGateKind.Attention : MoeGateKind.Ffn;
            var attribute = AttributeFromInputs(m.Groups[3].Value);
            var decision = GoldenModel.Routes.Decision(layer, gate, attribute);
            string prefix = key[..^".top2".Length];
            TensorAssert.Equal(output, prefix + ".top2", GoldenFixture.Output(key), tensor(decision.Route.Experts.Select(e => (long)e).ToArray()));
            TensorAssert.Close(output, prefix + ".gates", GoldenFixture.Output(prefix + ".gates"), tensor(decision.Route.Weights), Tolerances.Gates);
            TensorAssert.Close(output, prefix + ".softmax", GoldenFixture.Output(prefix + ".softmax"), tensor(decision.Softmax), Tolerances.Gates);
        }
    }

    /// <summary>The README's routing table rows "| layer | gate | [i1, i2] (g1, g2) | ... |" equal the route table.</summary>
    [Fact]
    public void Route_table_should_equal_the_fixture_readme_top2_choices()
    {
        var lines = File.ReadAllLines(GoldenFixture.File("README.md"));
        int header = Array.FindIndex(lines, l => l.StartsWith("| layer | gate |", StringComparison.Ordinal));
        Assert.True(header >= 0, "README has no routing table");
        var attributes = lines[header].Split('|', StringSplitOptions.TrimEntries).Skip(3).Where(a => a.Length > 0 && !a.StartsWith("min", StringComparison.Ordinal)).ToList();
        int rows = 0;
        foreach (var line in lines.Skip(header + 2).TakeWhile(l => l.StartsWith('|')))
        {
            var cells = line.Split('|', StringSplitOptions.TrimEntries).Skip(1).ToList();
            int layer = int.Parse(cells[0], CultureInfo.InvariantCulture);
            var gate = cells[1] == "attn" ? MoeGateKind.Attention : MoeGateKind.Ffn;
            for (int a = 0; a < attributes.Count; a++)
            {
                var m = RouteCell().Match(cells[2 + a]);
                Assert.True(m.Success, cells[2 + a]);
                var route = GoldenModel.Routes.Decision(layer, gate, AttributeFromInputs(attributes[a])).Route;
                output.WriteLine($"layer {layer} {cells[1]} {attributes[a]}: README {cells[2 + a]}, table {route}");
                Assert.Equal(new[] { int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture) }, route.Experts);
                // The README prints 6 decimals: allow its rounding (5e-7) on top of the gate tolerance.
                Assert.InRange(Math.Abs(double.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture) - route.Weights[0]), 0, Tolerances.Gates + 5e-7);
                Assert.InRange(Math.Abs(double.Parse(m.Groups[4].Value, CultureInfo.InvariantCulture) - route.Weights[1]), 0, Tolerances.Gates + 5e-7);
                rows++;
            }
        }
        Assert.True(rows > 0);
    }

    private static MoeAttribute AttributeFromInputs(string name)
    {
        var v = GoldenFixture.Input("attribute." + name).data<float>().ToArray();
        return MoeAttribute.Parse(new string(v.Select(f => f > 0.5f ? '1' : '0').ToArray()));
    }

    [GeneratedRegex(@"^moe\.layer(\d+)\.(attn|ffn)\.(.+)\.top2$")]
    private static partial Regex GateKey();

    [GeneratedRegex(@"\[(\d+),\s*(\d+)\]\s*\(([\d.]+),\s*([\d.]+)\)")]
    private static partial Regex RouteCell();
}
