// Interprets the pickle programs torch.save writes (data.pkl, protocols 2-5) into plain data (PickleValues.cs).
// It never imports or calls anything: GLOBAL/STACK_GLOBAL pass PickleWhitelist or fail, REDUCE/NEWOBJ/BUILD
// only build the whitelisted shapes, and persistent ids only become StorageRef records (no tensor data is read here).
using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace UniPerceiverMoe.Model.Checkpoints;

public sealed class RestrictedUnpickler
{
    private static readonly object Mark = new();

    private readonly byte[] _data;
    private readonly string _source;
    private readonly List<object?> _stack = new();
    private readonly Stack<int> _marks = new();
    private readonly Dictionary<long, object?> _memo = new();
    private int _pos;

    private RestrictedUnpickler(byte[] data, string source) => (_data, _source) = (data, source);

    /// <summary>Unpickles <paramref name="pickle"/>; <paramref name="source"/> names the file in error messages.</summary>
    /// <exception cref="CheckpointException">A refused global, an unsupported opcode, or a malformed/truncated program.</exception>
    public static object? Unpickle(byte[] pickle, string source) => new RestrictedUnpickler(pickle, source).Run();

    private object? Run()
    {
        while (true)
        {
            int at = _pos;
            byte op = U8();
            switch (op)
            {
                case 0x80: if (U8() > 5) throw Fail("unsupported pickle protocol"); break;           // PROTO
                case 0x95: Take(8); break;                                                           // FRAME (framing is advisory)
                case (byte)'.': return _stack.Count == 1 ? _stack[0] : throw Fail("stack not singular at STOP");
                case (byte)'}': Push(new PickleDict()); break;                                       // EMPTY_DICT
                case (byte)']': Push(new List<object?>()); break;                                    // EMPTY_LIST
                case (byte)')': Push(Array.Empty<object?>()); break;                                 // EMPTY_TUPLE
                case 0x8f: Push(new PickleSet(new List<object?>())); break;                          // EMPTY_SET
                case (byte)'(': _marks.Push(_stack.Count); _stack.Add(Mark); break;                  // MARK
                case (byte)'N': Push(null); break;
                case 0x88: Push(true); break;                                                        // NEWTRUE
                case 0x89: Push(false); break;                                                       // NEWFALSE
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;  // BININT
                case (byte)'K': Push((long)U8()); break;                                             // BININT1
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break; // BININT2
                case 0x8a: Push(Long(U8())); break;                                                  // LONG1
                case 0x8b: Push(Long(Length(Take(4)))); break;                                       // LONG4
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;          // BINFLOAT
                case (byte)'X': Push(Utf8(Length(Take(4)))); break;                                  // BINUNICODE
                case 0x8c: Push(Utf8(U8())); break;                                                  // SHORT_BINUNICODE
                case 0x8d: Push(Utf8(Length(Take(8)))); break;                                       // BINUNICODE8
                case (byte)'T': Push(Encoding.Latin1.GetString(Take(Length(Take(4))))); break;       // BINSTRING (py2 str)
                case (byte)'U': Push(Encoding.Latin1.GetString(Take(U8()))); break;                  // SHORT_BINSTRING
                case (byte)'B': Push(Take(Length(Take(4))).ToArray()); break;                        // BINBYTES
                case (byte)'C': Push(Take(U8()).ToArray()); break;                                   // SHORT_BINBYTES
                case 0x8e: Push(Take(Length(Take(8))).ToArray()); break;                             // BINBYTES8
                case (byte)'q': _memo[U8()] = Top(); break;                                          // BINPUT
                case (byte)'r': _memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(4))] = Top(); break; // LONG_BINPUT
                case 0x94: _memo[_memo.Count] = Top(); break;                                        // MEMOIZE
                case (byte)'p': _memo[Index(Line())] = Top(); break;                                 // PUT
                case (byte)'h': Push(Get(U8())); break;                                              // BINGET
                case (byte)'j': Push(Get(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break; // LONG_BINGET
                case (byte)'g': Push(Get(Index(Line()))); break;                                     // GET
                case (byte)'c': { var m = Line(); Push(PickleWhitelist.Admit(m, Line(), _source)); break; } // GLOBAL
                case 0x93: { var n = Pop(); var m = Pop(); Push(PickleWhitelist.Admit(Str(m), Str(n), _source)); break; } // STACK_GLOBAL
                case (byte)'R': case 0x81: { var args = Pop(); Push(PickleWhitelist.Apply(Pop(), args, _source)); break; } // REDUCE, NEWOBJ
                case (byte)'b': Build(Pop(), Top()); break;                                          // BUILD
                case (byte)'t': Push(PopMark().ToArray()); break;                                    // TUPLE
                case 0x85: Push(new[] { Pop() }); break;                                             // TUPLE1
                case 0x86: { var b = Pop(); Push(new[] { Pop(), b }); break; }                       // TUPLE2
                case 0x87: { var c = Pop(); var b = Pop(); Push(new[] { Pop(), b, c }); break; }     // TUPLE3
                case (byte)'l': Push(PopMark()); break;                                              // LIST
                case (byte)'d': Push(Pairs(PopMark(), new PickleDict())); break;                     // DICT
                case (byte)'s': { var v = Pop(); var k = Pop(); AsDict(Top()).Set(k, v); break; }    // SETITEM
                case (byte)'u': { var items = PopMark(); Pairs(items, AsDict(Top())); break; }       // SETITEMS
                case (byte)'a': { var v = Pop(); AsList(Top()).Add(v); break; }                      // APPEND
                case (byte)'e': { var items = PopMark(); AsList(Top()).AddRange(items); break; }     // APPENDS
                case 0x90: { var items = PopMark(); AsSet(Top()).Items.AddRange(items); break; }     // ADDITEMS
                case 0x91: Push(new PickleSet(PopMark())); break;                                    // FROZENSET
                case (byte)'0': Pop(); break;                                                        // POP
                case (byte)'1': PopMark(); break;                                                    // POP_MARK
                case (byte)'2': Push(Top()); break;                                                  // DUP
                case (byte)'Q': Push(Storage(Pop())); break;                                         // BINPERSID
                default: throw Fail($"unsupported pickle opcode 0x{op:x2}", at);
            }
        }
    }

    /// <summary>torch's persistent id for a storage: ('storage', storage_type, key, location, numel).</summary>
    private StorageRef Storage(object? pid)
    {
        if (pid is not object?[] { Length: 5 } t || t[0] is not "storage" || t[2] is not string key || t[3] is not string location
            || t[4] is not long numel || numel < 0)
            throw Fail($"persistent id {PickleWhitelist.Describe(pid)} is not a torch storage reference");
        return new StorageRef(key, PickleWhitelist.StorageDtype(t[1], _source), location, numel);
    }

    private void Build(object? state, object? target)
    {
        switch (target)
        {
            case PickleDict d: d.State = state; break;               // e.g. the state dict's _metadata
            case TensorRef: break;                                    // tensor-subclass state: nothing a plain tensor needs
            default: throw Fail($"BUILD on {PickleWhitelist.Describe(target)} is not allowed");
        }
    }

    private static PickleDict Pairs(List<object?> items, PickleDict dict)
    {
        for (int i = 0; i + 1 < items.Count; i += 2) dict.Set(items[i], items[i + 1]);
        return dict;
    }

    private object? Get(long key) => _memo.TryGetValue(key, out var v) ? v : throw Fail($"memo key {key} was never stored");

    private void Push(object? v) => _stack.Add(v);

    private object? Top() => _stack.Count > 0 && _stack[^1] != Mark ? _stack[^1] : throw Fail("stack underflow");

    private object? Pop()
    {
        var v = Top();
        _stack.RemoveAt(_stack.Count - 1);
        return v;
    }

    private List<object?> PopMark()
    {
        if (_marks.Count == 0) throw Fail("no MARK on the stack");
        int m = _marks.Pop();
        var items = _stack.GetRange(m + 1, _stack.Count - m - 1);
        _stack.RemoveRange(m, _stack.Count - m);
        return items;
    }

    private PickleDict AsDict(object? v) => v as PickleDict ?? throw Fail($"SETITEM on {PickleWhitelist.Describe(v)}");
    private List<object?> AsList(object? v) => v as List<object?> ?? throw Fail($"APPEND on {PickleWhitelist.Describe(v)}");
    private PickleSet AsSet(object? v) => v as PickleSet ?? throw Fail($"ADDITEMS on {PickleWhitelist.Describe(v)}");
    private string Str(object? v) => v as string ?? throw Fail($"STACK_GLOBAL with {PickleWhitelist.Describe(v)}");

    private byte U8() => Take(1)[0];

    private ReadOnlySpan<byte> Take(long n)
    {
        if (n < 0 || n > _data.Length - _pos) throw Fail("truncated pickle");
        var s = _data.AsSpan(_pos, (int)n);
        _pos += (int)n;
        return s;
    }

    private long Length(ReadOnlySpan<byte> le) =>
        le.Length == 4 ? BinaryPrimitives.ReadUInt32LittleEndian(le) : checked((long)BinaryPrimitives.ReadUInt64LittleEndian(le));

    private long Index(string line) => long.TryParse(line, out var i) ? i : throw Fail($"bad memo index '{line}'");

    private string Utf8(long n) => Encoding.UTF8.GetString(Take(n));

    private string Line()
    {
        int end = Array.IndexOf(_data, (byte)'\n', _pos);
        if (end < 0) throw Fail("truncated pickle");
        var s = Encoding.ASCII.GetString(_data, _pos, end - _pos);
        _pos = end + 1;
        return s;
    }

    /// <summary>Two's-complement little-endian integer of <paramref name="n"/> bytes: a long when it fits.</summary>
    private object Long(long n)
    {
        var b = new BigInteger(Take(n), isUnsigned: false, isBigEndian: false);
        return b >= long.MinValue && b <= long.MaxValue ? (object)(long)b : b;
    }

    private CheckpointException Fail(string what, int? at = null) => new($"{_source}: {what} at byte {at ?? _pos} of the pickle.");
}
