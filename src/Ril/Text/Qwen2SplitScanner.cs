using System.Globalization;
using System.Text;

namespace Ril.Text;

/// <summary>
/// The split regex of Qwen2/Qwen3 (and, with up to three digits per number, of Llama 3), written out by
/// hand: .NET's compiled regex spends ~60% of encoding time there, this scanner a fraction of it.
/// <see cref="CodePointRegex"/> uses it when a tokenizer.json names exactly one of those patterns; the
/// regex itself stays as the reference, and tests compare the two on every corpus entry and on random text.
///
/// At each position the first alternative that matches wins, as in the regex:
/// <code>
/// (?i:'s|'t|'re|'ve|'m|'ll|'d)      contractions (ASCII case-insensitive, as .NET matches them)
/// [^\r\n\p{L}\p{N}]?\p{L}+           letters, with one leading character that is not a newline/letter/digit
/// \p{N}  (Llama 3: \p{N}{1,3})        digits
///  ?[^\s\p{L}\p{N}]+[\r\n]*          punctuation and symbols, one leading space, trailing newlines
/// \s*[\r\n]+                          whitespace up to its last newline
/// \s+(?!\S)                           whitespace but the last character before a non-space
/// \s+                                 any other whitespace
/// </code>
/// </summary>
static class Qwen2SplitScanner
{
    public const string Llama3Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Digits per number for a pattern this scanner implements (1 for Qwen, 3 for Llama 3), else 0.</summary>
    public static int DigitsPerNumber(string pattern) =>
        pattern == BpeTrainerOptions.QwenPattern ? 1 : pattern == Llama3Pattern ? 3 : 0;

    enum Kind : byte { Letter, Number, Newline, Space, Other }

    static readonly Kind[] AsciiKinds = BuildAsciiKinds();

    static Kind[] BuildAsciiKinds()
    {
        var kinds = new Kind[128];
        for (int c = 0; c < 128; c++) kinds[c] = KindOf((char)c);
        return kinds;
    }

    static Kind KindOf(char c) =>
        c is '\r' or '\n' ? Kind.Newline
        : char.IsWhiteSpace(c) ? Kind.Space  // the same set as .NET's \s
        : char.IsLetter(c) ? Kind.Letter
        : char.IsNumber(c) ? Kind.Number     // Nd, Nl, No: \p{N}
        : Kind.Other;

    static Kind KindAt(ReadOnlySpan<char> text, int i, out int width)
    {
        char c = text[i];
        width = 1;
        if (c < 128) return AsciiKinds[c];
        if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
        {
            width = 2;
            var rune = new Rune(c, text[i + 1]);
            return Rune.IsLetter(rune) ? Kind.Letter : Rune.IsNumber(rune) ? Kind.Number : Kind.Other; // no astral spaces
        }
        return KindOf(c);
    }

    /// <summary>Appends (start, length) of every match; the pattern matches everywhere, so matches tile the text.</summary>
    public static void Matches(ReadOnlySpan<char> text, int digitsPerNumber, List<(int Start, int Length)> matches)
    {
        for (int i = 0; i < text.Length;)
        {
            int end = MatchAt(text, i, digitsPerNumber);
            matches.Add((i, end - i));
            i = end;
        }
    }

    static int MatchAt(ReadOnlySpan<char> text, int i, int digitsPerNumber)
    {
        int n = text.Length;
        // 's 't 're 've 'm 'll 'd
        if (text[i] == '\'' && i + 1 < n)
        {
            char a = (char)(text[i + 1] | 0x20); // ASCII lower case; only letters can then compare equal
            if (a is 's' or 't' or 'm' or 'd' && IsAsciiLetter(text[i + 1])) return i + 2;
            if (i + 2 < n && IsAsciiLetter(text[i + 1]) && IsAsciiLetter(text[i + 2]))
            {
                char b = (char)(text[i + 2] | 0x20);
                if ((a, b) is ('r', 'e') or ('v', 'e') or ('l', 'l')) return i + 3;
            }
        }
        var kind = KindAt(text, i, out int width);
        // Letters, possibly after one character that is neither newline, letter nor digit.
        if (kind == Kind.Letter) return EndOfLetters(text, i + width);
        if (kind is Kind.Space or Kind.Other && i + width < n && KindAt(text, i + width, out int next) == Kind.Letter)
            return EndOfLetters(text, i + width + next);
        if (kind == Kind.Number)
        {
            int end = i + width;
            for (int count = 1; count < digitsPerNumber && end < n && KindAt(text, end, out int w) == Kind.Number; count++) end += w;
            return end;
        }
        // Punctuation and symbols, with one leading space, then newlines.
        int start = i;
        if (text[i] == ' ' && i + 1 < n && KindAt(text, i + 1, out _) == Kind.Other) start = i + 1;
        if (start > i || kind == Kind.Other)
        {
            int end = start;
            while (end < n && KindAt(text, end, out int w) == Kind.Other) end += w;
            while (end < n && text[end] is '\r' or '\n') end++;
            return end;
        }
        // Whitespace (kind is Space or Newline).
        int runEnd = i, lastNewline = -1;
        while (runEnd < n && KindAt(text, runEnd, out _) is Kind.Space or Kind.Newline)
        {
            if (text[runEnd] is '\r' or '\n') lastNewline = runEnd;
            runEnd++;
        }
        if (lastNewline >= 0) return lastNewline + 1;
        if (runEnd == n || runEnd - 1 == i) return runEnd;
        return runEnd - 1;
    }

    static bool IsAsciiLetter(char c) => (uint)((c | 0x20) - 'a') <= 'z' - 'a';

    static int EndOfLetters(ReadOnlySpan<char> text, int end)
    {
        while (end < text.Length && KindAt(text, end, out int w) == Kind.Letter) end += w;
        return end;
    }
}
