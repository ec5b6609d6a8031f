using System.Globalization;
using System.Text.RegularExpressions;

namespace Ril.Text;

/// <summary>
/// A .NET regex that matches code points, as the Oniguruma patterns in tokenizer.json expect. .NET
/// matches UTF-16 chars, so an emoji or 𝑥 (two surrogates, category Cs each) is neither \p{L} nor one
/// character to it, and "🎉Hello" would split differently from Hugging Face's. Text holding surrogate
/// pairs is therefore matched through a stand-in string where each pair is replaced by one BMP character
/// of the same Unicode category; match positions are mapped back to the original text.
/// </summary>
public sealed class CodePointRegex
{
    readonly Regex regex;
    readonly bool useStandIns;
    readonly int scannerDigits; // > 0: Qwen2SplitScanner stands in for the regex
    static readonly char[] StandInByCategory = FindStandIns();

    public string Pattern { get; }
    /// <summary>True when a hand-written scanner (<see cref="Qwen2SplitScanner"/>) matches instead of .NET's regex engine.</summary>
    public bool IsHandWritten => scannerDigits > 0;

    /// <param name="pattern">An Oniguruma-style pattern from tokenizer.json.</param>
    /// <param name="allowHandWritten">Let Qwen's and Llama 3's split patterns run on the hand-written scanner (false: always the regex engine).</param>
    public CodePointRegex(string pattern, bool allowHandWritten = true)
    {
        Pattern = pattern;
        scannerDigits = allowHandWritten ? Qwen2SplitScanner.DigitsPerNumber(pattern) : 0;
        // RegexOptions.Compiled: tokenising is hot (RL encodes every rollout); compiling once costs ~10 ms.
        // Constructed even when the scanner runs, so that a pattern .NET cannot compile is reported alike.
        regex = Build(pattern, scannerDigits > 0 ? RegexOptions.CultureInvariant : RegexOptions.Compiled | RegexOptions.CultureInvariant);
        // A pattern naming surrogates itself wants the raw UTF-16 text.
        useStandIns = !pattern.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF');
    }

    /// <summary>Longest a pattern that needs backtracking may take on one text before it counts as catastrophic.</summary>
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// A pattern in linear time where .NET's non-backtracking engine takes it (so "(a+)+$" cannot hang a tokenizer); one
    /// with lookarounds (GPT-2's "\s+(?!\S)") on the backtracking engine with a match timeout.
    /// </summary>
    static Regex Build(string pattern, RegexOptions options)
    {
        try { return new Regex(pattern, (options & ~RegexOptions.Compiled) | RegexOptions.NonBacktracking); }
        catch (NotSupportedException) { return new Regex(pattern, options, MatchTimeout); }
    }

    /// <summary>Appends the (start, length) of every non-empty match in text, in order.</summary>
    public void Matches(ReadOnlySpan<char> text, List<(int Start, int Length)> matches)
    {
        try { MatchAll(text, matches); }
        catch (RegexMatchTimeoutException)
        {
            throw new InvalidDataException($"the pre-tokenizer pattern '{Pattern}' took over {MatchTimeout.TotalSeconds:F0} s on a text of {text.Length} characters (catastrophic backtracking): the tokenizer.json is unusable");
        }
    }

    void MatchAll(ReadOnlySpan<char> text, List<(int Start, int Length)> matches)
    {
        if (scannerDigits > 0)
        {
            Qwen2SplitScanner.Matches(text, scannerDigits, matches);
            return;
        }
        if (!useStandIns || !text.ContainsAnyInRange('\uD800', '\uDFFF'))
        {
            foreach (var m in regex.EnumerateMatches(text))
                if (m.Length > 0) matches.Add((m.Index, m.Length));
            return;
        }
        var standIn = new char[text.Length];
        var origin = new int[text.Length + 1]; // stand-in index → original index
        int n = 0;
        for (int i = 0; i < text.Length; i++)
        {
            origin[n] = i;
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                var category = CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(c, text[i + 1]));
                standIn[n++] = StandInByCategory[(int)category];
                i++;
            }
            else standIn[n++] = c;
        }
        origin[n] = text.Length;
        foreach (var m in regex.EnumerateMatches(standIn.AsSpan(0, n)))
            if (m.Length > 0)
            {
                int start = origin[m.Index];
                matches.Add((start, origin[m.Index + m.Length] - start));
            }
    }

    /// <summary>
    /// For each category, a BMP character of that category outside ASCII and Latin-1 (so no pattern
    /// literal such as 's or \r is likely to be one). Surrogate pairs never have category Cs.
    /// </summary>
    static char[] FindStandIns()
    {
        var result = new char[32];
        var found = new bool[32];
        for (int c = 0x100; c < 0x10000; c++)
        {
            if (c is >= 0xD800 and <= 0xDFFF) continue;
            int category = (int)CharUnicodeInfo.GetUnicodeCategory((char)c);
            if (!found[category]) { found[category] = true; result[category] = (char)c; }
        }
        return result;
    }
}
