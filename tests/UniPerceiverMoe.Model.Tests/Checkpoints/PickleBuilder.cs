// Test helper: emits pickle opcodes by hand, to write torch-style data.pkl files and hostile programs.
using System.Buffers.Binary;
using System.Text;

namespace UniPerceiverMoe.Model.Tests.Checkpoints;

internal sealed class PickleBuilder
{
    private readonly MemoryStream _out = new();

    public PickleBuilder Op(params byte[] bytes)
    {
        _out.Write(bytes);
        return this;
    }

    public PickleBuilder Proto(byte version) => Op(0x80, version);
    public PickleBuilder Mark() => Op((byte)'(');
    public PickleBuilder Tuple() => Op((byte)'t');
    public PickleBuilder Reduce() => Op((byte)'R');
    public PickleBuilder Stop() => Op((byte)'.');
    public PickleBuilder EmptyDict() => Op((byte)'}');
    public PickleBuilder EmptyTuple() => Op((byte)')');

    /// <summary>BINUNICODE: 4-byte LE length + UTF-8.</summary>
    public PickleBuilder Str(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        Op((byte)'X');
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(len, b.Length);
        return Op(len.ToArray()).Op(b);
    }

    /// <summary>SHORT_BINUNICODE (protocol 4).</summary>
    public PickleBuilder ShortStr(string s)
    {
        var b = Encoding.UTF8.GetBytes(s);
        return Op(0x8c, (byte)b.Length).Op(b);
    }

    /// <summary>The smallest int opcode pickle itself would pick: BININT1, BININT2, BININT or LONG1.</summary>
    public PickleBuilder Int(long v)
    {
        if (v is >= 0 and < 256) return Op((byte)'K', (byte)v);
        if (v is >= 0 and < 65536) return Op((byte)'M', (byte)v, (byte)(v >> 8));
        if (v is >= int.MinValue and <= int.MaxValue)
        {
            var b = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(b, (int)v);
            return Op((byte)'J').Op(b);
        }
        var l = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(l, v);
        return Op(0x8a, 8).Op(l);
    }

    public PickleBuilder Ints(IEnumerable<long> values)
    {
        Mark();
        foreach (var v in values) Int(v);
        return Tuple();
    }

    public PickleBuilder Global(string module, string name) => Op((byte)'c').Op(Encoding.ASCII.GetBytes($"{module}\n{name}\n"));

    public byte[] ToArray() => _out.ToArray();
}
