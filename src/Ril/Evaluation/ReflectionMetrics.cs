namespace Ril.Evaluation;

/// <summary>
/// Reflection over a batch of responses (docs/spec/MAYE.md "reflection"): N responses, N+ correct, N_ref containing any
/// reflective word, N_ref+ reflective and correct, and the total count of each reflective word.
/// Each ratio is null when its denominator is 0 ("missing", not 0 and not NaN).
/// </summary>
public sealed record ReflectionStats(int Responses, int Correct, int Reflective, int ReflectiveCorrect, IReadOnlyDictionary<string, long> WordCounts)
{
    /// <summary>N_ref / N.</summary>
    public double? ReflectionRatio => Ratio(Reflective, Responses);
    /// <summary>N_ref+ / N+.</summary>
    public double? ReflectionRatioInCorrectAnswers => Ratio(ReflectiveCorrect, Correct);
    /// <summary>(N_ref − N_ref+) / (N − N+).</summary>
    public double? ReflectionRatioInIncorrectAnswers => Ratio(Reflective - ReflectiveCorrect, Responses - Correct);
    /// <summary>N_ref+ / N_ref.</summary>
    public double? CorrectRatioInReflectionTexts => Ratio(ReflectiveCorrect, Reflective);
    /// <summary>(N+ − N_ref+) / (N − N_ref).</summary>
    public double? CorrectRatioInNoReflectionTexts => Ratio(Correct - ReflectiveCorrect, Responses - Reflective);

    /// <summary>The five ratios under MAYE's names, in MAYE's order.</summary>
    public IReadOnlyList<(string Name, double? Value)> Ratios =>
    [
        ("reflection_ratio", ReflectionRatio),
        ("reflection_ratio_in_correct_answers", ReflectionRatioInCorrectAnswers),
        ("reflection_ratio_in_incorrect_answers", ReflectionRatioInIncorrectAnswers),
        ("correct_ratio_in_reflection_texts", CorrectRatioInReflectionTexts),
        ("correct_ratio_in_no_reflection_texts", CorrectRatioInNoReflectionTexts),
    ];

    static double? Ratio(int numerator, int denominator) => denominator == 0 ? null : (double)numerator / denominator;
}

/// <summary>The 15 reflective words of MAYE, matched as lower-case substrings (docs/spec/MAYE.md).</summary>
public static class ReflectionMetrics
{
    public static readonly IReadOnlyList<string> Words =
    [
        "re-check", "re-evaluate", "re-examine", "re-think", "recheck", "reevaluate", "reexamine", "reevaluation", "rethink",
        "check again", "think again", "try again", "verify", "wait", "yet",
    ];

    /// <summary>Whether the response contains any reflective word (case-insensitive).</summary>
    public static bool IsReflective(string response)
    {
        var lower = response.ToLowerInvariant();
        foreach (var word in Words) if (lower.Contains(word, StringComparison.Ordinal)) return true;
        return false;
    }

    /// <summary>Non-overlapping occurrences of <paramref name="word"/> in <paramref name="lowerText"/>, as Python's str.count (MAYE's counter).</summary>
    public static int Occurrences(string lowerText, string word)
    {
        int count = 0;
        for (int at = lowerText.IndexOf(word, StringComparison.Ordinal); at >= 0; at = lowerText.IndexOf(word, at + word.Length, StringComparison.Ordinal))
            count++;
        return count;
    }

    /// <summary>The statistics of a batch of responses, each with its verdict.</summary>
    public static ReflectionStats Compute(IEnumerable<(string Response, bool Correct)> responses)
    {
        int n = 0, correct = 0, reflective = 0, reflectiveCorrect = 0;
        var counts = Words.ToDictionary(w => w, _ => 0L, StringComparer.Ordinal);
        foreach (var (response, ok) in responses)
        {
            var lower = response.ToLowerInvariant();
            bool any = false;
            foreach (var word in Words)
            {
                int c = Occurrences(lower, word);
                counts[word] += c;
                any |= c > 0;
            }
            n++;
            if (ok) correct++;
            if (any) reflective++;
            if (any && ok) reflectiveCorrect++;
        }
        return new ReflectionStats(n, correct, reflective, reflectiveCorrect, counts);
    }
}
