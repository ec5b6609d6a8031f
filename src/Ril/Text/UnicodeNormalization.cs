using System.Text;

namespace Ril.Text;

/// <summary>
/// Unicode canonical normalization (NFC, NFD; UAX #15) on our own tables, because under
/// InvariantGlobalization .NET's <see cref="string.Normalize()"/> returns its input unchanged, and
/// tokenizers such as Qwen's apply NFC before splitting.
/// </summary>
public static partial class UnicodeNormalization
{
    // Hangul syllables are composed arithmetically (Unicode §3.12), not tabulated.
    const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    static readonly Dictionary<int, byte> CombiningClasses = new();
    static readonly Dictionary<int, int[]> FullDecompositions = new();
    static readonly Dictionary<long, int> Composites = new();
    // Code points that can change under NFC (NFC_Quick_Check No/Maybe) or are non-starters: a string
    // with none of them is already in NFC, which is the common case and costs one bit test per char.
    static readonly ulong[] UnstableBmp = new ulong[65536 / 64];
    static readonly HashSet<int> UnstableAstral = new();

    static UnicodeNormalization()
    {
        var ccc = CombiningClassData;
        for (int i = 0; i < ccc.Length; i += 2) CombiningClasses[ccc[i]] = (byte)ccc[i + 1];

        var oneLevel = new Dictionary<int, int[]>();
        var dec = CanonicalDecompositionData;
        for (int i = 0; i < dec.Length;)
        {
            int cp = dec[i], n = dec[i + 1];
            oneLevel[cp] = dec.Slice(i + 2, n).ToArray();
            i += 2 + n;
        }
        foreach (var cp in oneLevel.Keys) FullDecompositions[cp] = Expand(cp, oneLevel);

        var primaryComposites = new HashSet<int>();
        var combinesBackward = new HashSet<int>();
        var comp = CompositionData;
        for (int i = 0; i < comp.Length; i += 3)
        {
            Composites[Key(comp[i], comp[i + 1])] = comp[i + 2];
            primaryComposites.Add(comp[i + 2]);
            combinesBackward.Add(comp[i + 1]);
        }
        foreach (var cp in combinesBackward) MarkUnstable(cp); // may combine with what precedes it (Maybe)
        foreach (var cp in CombiningClasses.Keys) MarkUnstable(cp);
        foreach (var (cp, parts) in FullDecompositions)
        {
            if (!primaryComposites.Contains(cp)) MarkUnstable(cp); // singletons, exclusions (No)
            // A composite whose decomposition starts with a character that combines backward (Unicode
            // 16's Gurung Khema and Kirat Rai vowels) is NFC alone but can recompose with what precedes it.
            else if (combinesBackward.Contains(parts[0]) || CombiningClass(parts[0]) != 0) MarkUnstable(cp);
        }
        for (int cp = VBase; cp < VBase + VCount; cp++) MarkUnstable(cp);
        for (int cp = TBase + 1; cp < TBase + TCount; cp++) MarkUnstable(cp);
    }

    static int[] Expand(int cp, Dictionary<int, int[]> oneLevel)
    {
        if (!oneLevel.TryGetValue(cp, out var parts)) return [cp];
        var result = new List<int>();
        foreach (var part in parts) result.AddRange(Expand(part, oneLevel));
        return result.ToArray();
    }

    static void MarkUnstable(int cp)
    {
        if (cp < 65536) UnstableBmp[cp >> 6] |= 1UL << (cp & 63);
        else UnstableAstral.Add(cp);
    }

    static long Key(int first, int second) => ((long)first << 21) | (uint)second;

    public static int CombiningClass(int codePoint) =>
        codePoint < 0x300 ? 0 : CombiningClasses.TryGetValue(codePoint, out var c) ? c : 0;

    /// <summary>True when <paramref name="text"/> is certainly in NFC (quick check without "maybe").</summary>
    public static bool IsNfcQuick(ReadOnlySpan<char> text) => FirstUnstable(text, 0) < 0;

    /// <summary>Index of the first character at or after <paramref name="from"/> that NFC might change, or -1.</summary>
    static int FirstUnstable(ReadOnlySpan<char> text, int from)
    {
        for (int i = from; i < text.Length; i++)
        {
            char c = text[i];
            if (c < 0x300) continue;
            if (!IsStableAt(text, i, out int width)) return i;
            i += width - 1;
        }
        return -1;
    }

    // Stable: a starter that NFC keeps and that nothing before it can combine with, so a string can be
    // cut before it and each side normalised alone.
    static bool IsStableAt(ReadOnlySpan<char> text, int i, out int width)
    {
        char c = text[i];
        if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
        {
            width = 2;
            return !UnstableAstral.Contains(char.ConvertToUtf32(c, text[i + 1]));
        }
        width = 1;
        return c < 0x300 || (UnstableBmp[c >> 6] & (1UL << (c & 63))) == 0;
    }

    /// <summary>
    /// Canonical composition (NFC). Returns <paramref name="text"/> itself when it is already NFC; else
    /// only the stretches around characters that may change are decomposed and recomposed.
    /// </summary>
    public static string ToNfc(string text)
    {
        int unstable = FirstUnstable(text, 0);
        if (unstable < 0) return text;
        var sb = new StringBuilder(text.Length + 8);
        var buffer = new List<int>();
        int copied = 0;
        while (unstable >= 0)
        {
            // The stretch starts at the stable character before (it may be what a mark composes with)
            // and ends before the next stable character.
            int start = unstable;
            if (start > 0) start -= start >= 2 && char.IsLowSurrogate(text[start - 1]) && char.IsHighSurrogate(text[start - 2]) ? 2 : 1;
            if (start < copied) start = copied;
            int end = unstable, width;
            do end += char.IsSurrogatePair(text, end) ? 2 : 1;
            while (end < text.Length && !IsStableAt(text, end, out width));
            sb.Append(text, copied, start - copied);
            buffer.Clear();
            Decompose(text.AsSpan(start, end - start), buffer);
            Compose(buffer);
            AppendCodePoints(sb, buffer);
            copied = end;
            unstable = FirstUnstable(text, end);
        }
        sb.Append(text, copied, text.Length - copied);
        return sb.ToString();
    }

    /// <summary>Canonical decomposition (NFD).</summary>
    public static string ToNfd(string text)
    {
        bool allLow = true;
        foreach (var c in text) if (c >= 0xC0) { allLow = false; break; } // nothing below U+00C0 decomposes
        if (allLow) return text;
        var codePoints = new List<int>(text.Length + 8);
        Decompose(text, codePoints);
        var sb = new StringBuilder(codePoints.Count + 4);
        AppendCodePoints(sb, codePoints);
        return sb.ToString();
    }

    /// <summary>Full canonical decomposition followed by canonical ordering of combining marks.</summary>
    static void Decompose(ReadOnlySpan<char> text, List<int> result)
    {
        for (int i = 0; i < text.Length; i++)
        {
            // Lone surrogates pass through as themselves (EnumerateRunes would turn them into U+FFFD).
            int cp = text[i];
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                cp = char.ConvertToUtf32(text[i], text[++i]);
            int s = cp - SBase;
            if ((uint)s < SCount)
            {
                result.Add(LBase + s / NCount);
                result.Add(VBase + s % NCount / TCount);
                if (s % TCount != 0) result.Add(TBase + s % TCount);
            }
            else if (cp >= 0xC0 && FullDecompositions.TryGetValue(cp, out var parts)) result.AddRange(parts);
            else result.Add(cp);
        }
        // Canonical ordering: a stable sort of each run of non-starters by combining class.
        for (int i = 1; i < result.Count; i++)
        {
            int cc = CombiningClass(result[i]);
            if (cc == 0) continue;
            int cp = result[i], j = i;
            while (j > 0 && CombiningClass(result[j - 1]) > cc) { result[j] = result[j - 1]; j--; }
            result[j] = cp;
        }
    }

    /// <summary>Canonical composition in place (UAX #15 §1.3): each mark joins the last starter unless blocked.</summary>
    static void Compose(List<int> cps)
    {
        if (cps.Count == 0) return;
        int starterPos = 0, starter = cps[0];
        int lastClass = CombiningClass(starter);
        if (lastClass != 0) lastClass = 256; // no starter yet: nothing can compose until one arrives
        int outPos = 1;
        for (int i = 1; i < cps.Count; i++)
        {
            int cp = cps[i], cc = CombiningClass(cp);
            int composite = ComposePair(starter, cp);
            if (composite >= 0 && (lastClass < cc || lastClass == 0))
            {
                cps[starterPos] = starter = composite;
                continue;
            }
            if (cc == 0) { starterPos = outPos; starter = cp; }
            lastClass = cc;
            cps[outPos++] = cp;
        }
        cps.RemoveRange(outPos, cps.Count - outPos);
    }

    static int ComposePair(int first, int second)
    {
        int l = first - LBase, v = second - VBase;
        if ((uint)l < LCount && (uint)v < VCount) return SBase + (l * VCount + v) * TCount;
        int s = first - SBase, t = second - TBase;
        if ((uint)s < SCount && s % TCount == 0 && t > 0 && t < TCount) return first + t;
        return Composites.TryGetValue(Key(first, second), out var c) ? c : -1;
    }

    static void AppendCodePoints(StringBuilder sb, List<int> cps)
    {
        foreach (var cp in cps)
        {
            if (cp < 0x10000) sb.Append((char)cp); // includes lone surrogates, kept as they came
            else { sb.Append(char.ConvertFromUtf32(cp)); }
        }
    }
}
