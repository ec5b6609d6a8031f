using System.Text;

namespace Ril.Evaluation;

/// <summary>
/// Whose writing a response resembles, measured on surface n-grams (used to show RIL moving a student toward its
/// teachers' styles). Each source (a teacher, or the gold solutions the student was warmed up on) is described by its
/// signature: the word n-grams that occur in its texts and in no other source's. Words are lower-cased, digits are
/// replaced by 0 (so numbers of a particular question do not count), and punctuation marks are words of their own.
/// A response's coverage by a source is the share of its distinct n-grams in that source's signature; its nearest
/// source is the one covering most (none when no signature n-gram occurs at all, or on a tie).
/// </summary>
public sealed class StyleMatch
{
    public const string None = "none";
    readonly Dictionary<string, HashSet<string>> _signatures;

    public int N { get; }
    public IReadOnlyList<string> Sources { get; }
    public IReadOnlyDictionary<string, int> SignatureSizes => _signatures.ToDictionary(kv => kv.Key, kv => kv.Value.Count);

    public StyleMatch(IReadOnlyDictionary<string, IReadOnlyList<string>> textsBySource, int n = 3)
    {
        if (n < 1) throw new ArgumentException("StyleMatch: n must be at least 1");
        if (textsBySource.Count < 2) throw new ArgumentException("StyleMatch: at least two sources to tell apart");
        N = n;
        Sources = textsBySource.Keys.Order(StringComparer.Ordinal).ToList();
        var grams = Sources.ToDictionary(s => s, s => textsBySource[s].SelectMany(t => Grams(t, n)).ToHashSet());
        _signatures = Sources.ToDictionary(s => s, s => grams[s].Where(g => Sources.All(o => o == s || !grams[o].Contains(g))).ToHashSet());
    }

    /// <summary>The normalised words of a text: lower case, digits as 0, each punctuation mark a word.</summary>
    public static List<string> Words(string text)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        void Flush() { if (word.Length > 0) { words.Add(word.ToString()); word.Clear(); } }
        foreach (var c in text)
        {
            if (char.IsLetter(c)) word.Append(char.ToLowerInvariant(c));
            else if (char.IsDigit(c)) { if (word.Length == 0 || word[^1] != '0') word.Append('0'); }
            else { Flush(); if (!char.IsWhiteSpace(c)) words.Add(c.ToString()); }
        }
        Flush();
        return words;
    }

    public static IEnumerable<string> Grams(string text, int n)
    {
        var w = Words(text);
        for (int i = 0; i + n <= w.Count; i++) yield return string.Join(' ', w.Skip(i).Take(n));
    }

    /// <summary>Share of the response's distinct n-grams in each source's signature.</summary>
    public Dictionary<string, float> Coverage(string response)
    {
        var grams = Grams(response, N).ToHashSet();
        return Sources.ToDictionary(s => s, s => grams.Count == 0 ? 0f : grams.Count(_signatures[s].Contains) / (float)grams.Count);
    }

    /// <summary>The source whose signature covers most of the response, or <see cref="None"/>.</summary>
    public string Nearest(string response)
    {
        var c = Coverage(response);
        float best = c.Values.Max();
        if (best == 0) return None;
        var top = c.Where(kv => kv.Value == best).ToList();
        return top.Count == 1 ? top[0].Key : None;
    }

    /// <summary>For a set of responses: the share nearest to each source (and to none), and the mean coverage by each.</summary>
    public StyleSummary Summarise(IReadOnlyList<string> responses)
    {
        var nearest = responses.Select(Nearest).ToList();
        var shares = Sources.Append(None).ToDictionary(s => s, s => responses.Count == 0 ? 0f : nearest.Count(x => x == s) / (float)responses.Count);
        var coverage = Sources.ToDictionary(s => s, s => responses.Count == 0 ? 0f : responses.Average(r => Coverage(r)[s]));
        return new StyleSummary(responses.Count, shares, coverage);
    }
}

/// <summary>A set of responses against the sources of a <see cref="StyleMatch"/>.</summary>
/// <param name="NearestShare">Source (or "none") → share of the responses nearest to it.</param>
/// <param name="MeanCoverage">Source → mean share of a response's n-grams in that source's signature.</param>
public sealed record StyleSummary(int Count, IReadOnlyDictionary<string, float> NearestShare, IReadOnlyDictionary<string, float> MeanCoverage)
{
    public override string ToString() =>
        string.Join(", ", NearestShare.Select(kv => FormattableString.Invariant($"{kv.Key} {kv.Value:P0}"))) + "; coverage " +
        string.Join(", ", MeanCoverage.Select(kv => FormattableString.Invariant($"{kv.Key} {kv.Value:F3}")));
}
