// Unicode NFC (UAX #15: canonical decomposition, canonical ordering, canonical composition) over generated tables.
// Needed because the build runs with InvariantGlobalization, where string.Normalize does not touch non-ASCII text.
using System.Text;

namespace UniPerceiverMoe.Model.Tokenization;

internal static class UnicodeNfc
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly Dictionary<int, int[]> Decomposition = new();
    private static readonly Dictionary<long, int> Composition = new();
    private static readonly Dictionary<int, byte> CombiningClass = new();

    static UnicodeNfc()
    {
        foreach (var item in Items(UnicodeData.Decompositions))
        {
            var eq = item.IndexOf('=');
            var composes = item.EndsWith('!');
            var cp = Convert.ToInt32(item[..eq], 16);
            var parts = item[(eq + 1)..].TrimEnd('!').Split('+').Select(h => Convert.ToInt32(h, 16)).ToArray();
            Decomposition[cp] = parts;
            if (composes) Composition[Key(parts[0], parts[1])] = cp;
        }
        foreach (var item in Items(UnicodeData.CombiningClasses))
        {
            var dash = item.IndexOf('-');
            var colon = item.IndexOf(':');
            var first = Convert.ToInt32(item[..dash], 16);
            var last = Convert.ToInt32(item[(dash + 1)..colon], 16);
            var cls = byte.Parse(item[(colon + 1)..]);
            for (var cp = first; cp <= last; cp++) CombiningClass[cp] = cls;
        }
    }

    internal static IEnumerable<string> Items(string table) =>
        table.Split([' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries);

    public static string Normalize(string s)
    {
        if (IsTriviallyNormalized(s)) return s;
        var cps = new List<int>(s.Length);
        foreach (var r in s.EnumerateRunes()) Decompose(r.Value, cps);
        Reorder(cps);
        Compose(cps);
        var sb = new StringBuilder(cps.Count);
        foreach (var cp in cps) sb.Append(char.ConvertFromUtf32(cp));
        return sb.ToString();
    }

    /// <summary>Text below U+0300 with no decomposable char is already NFC (nothing there combines).</summary>
    private static bool IsTriviallyNormalized(string s)
    {
        foreach (var c in s)
            if (c >= 0x300) return false;
        return true;
    }

    private static int Ccc(int cp) => CombiningClass.TryGetValue(cp, out var c) ? c : 0;

    private static long Key(int a, int b) => ((long)a << 21) | (uint)b;

    private static void Decompose(int cp, List<int> output)
    {
        if (cp is >= SBase and < SBase + SCount)
        {
            var s = cp - SBase;
            output.Add(LBase + s / NCount);
            output.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0) output.Add(TBase + s % TCount);
            return;
        }
        if (Decomposition.TryGetValue(cp, out var parts))
            foreach (var p in parts) Decompose(p, output);
        else output.Add(cp);
    }

    /// <summary>Stable sort of each run of non-starters by combining class.</summary>
    private static void Reorder(List<int> cps)
    {
        for (var i = 1; i < cps.Count; i++)
        {
            var ccc = Ccc(cps[i]);
            if (ccc == 0) continue;
            var j = i;
            while (j > 0 && Ccc(cps[j - 1]) > ccc)
            {
                (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]);
                j--;
            }
        }
    }

    private static void Compose(List<int> cps)
    {
        if (cps.Count == 0) return;
        var starter = 0;
        var lastCcc = Ccc(cps[0]) == 0 ? 0 : 256;
        var write = 1;
        for (var read = 1; read < cps.Count; read++)
        {
            var cp = cps[read];
            var ccc = Ccc(cp);
            var blocked = lastCcc != 0 && lastCcc >= ccc;
            // lastCcc == 0: the previous kept char is the starter itself; 256: no starter yet (always blocked).
            if (!blocked && TryCompose(cps[starter], cp, out var composite))
            {
                cps[starter] = composite;
                continue;
            }
            if (ccc == 0) { starter = write; lastCcc = 0; }
            else lastCcc = ccc;
            cps[write++] = cp;
        }
        cps.RemoveRange(write, cps.Count - write);
    }

    private static bool TryCompose(int a, int b, out int composite)
    {
        if (a is >= LBase and < LBase + LCount && b is >= VBase and < VBase + VCount)
        {
            composite = SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
            return true;
        }
        if (a is >= SBase and < SBase + SCount && (a - SBase) % TCount == 0 && b is > TBase and < TBase + TCount)
        {
            composite = a + (b - TBase);
            return true;
        }
        return Composition.TryGetValue(Key(a, b), out composite);
    }
}
