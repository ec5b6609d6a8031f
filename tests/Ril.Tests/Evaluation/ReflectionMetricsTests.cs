using Ril.Evaluation;

namespace Ril.Tests.Evaluation;

/// <summary>docs/spec/MAYE.md's five reflection ratios and the word counts, on hand-made batches.</summary>
public class ReflectionMetricsTests
{
    // N = 5, N+ = 3, N_ref = 3 (responses 0, 1, 3), N_ref+ = 2 (responses 0 and 1).
    static readonly (string, bool)[] Mixed =
    [
        ("Wait, let me re-check: 2 + 2 = 4. \\boxed{4}", true),
        ("I should verify this. Verify again: \\boxed{3}", true),
        ("The answer is \\boxed{5}.", true),
        ("Not done yet... think again. \\boxed{7}", false),
        ("\\boxed{9}", false),
    ];

    [Fact]
    public void The_five_ratios_follow_the_spec_formulas()
    {
        var s = ReflectionMetrics.Compute(Mixed);
        Assert.Equal((5, 3, 3, 2), (s.Responses, s.Correct, s.Reflective, s.ReflectiveCorrect));
        Assert.Equal(3.0 / 5, s.ReflectionRatio);                      // N_ref / N
        Assert.Equal(2.0 / 3, s.ReflectionRatioInCorrectAnswers);      // N_ref+ / N+
        Assert.Equal(1.0 / 2, s.ReflectionRatioInIncorrectAnswers);    // (N_ref − N_ref+) / (N − N+)
        Assert.Equal(2.0 / 3, s.CorrectRatioInReflectionTexts);        // N_ref+ / N_ref
        Assert.Equal(1.0 / 2, s.CorrectRatioInNoReflectionTexts);      // (N+ − N_ref+) / (N − N_ref)
        Assert.Equal(["reflection_ratio", "reflection_ratio_in_correct_answers", "reflection_ratio_in_incorrect_answers",
                      "correct_ratio_in_reflection_texts", "correct_ratio_in_no_reflection_texts"], s.Ratios.Select(r => r.Name));
    }

    [Fact]
    public void Word_counts_are_case_insensitive_substring_occurrences()
    {
        var s = ReflectionMetrics.Compute(Mixed);
        Assert.Equal(15, s.WordCounts.Count);
        Assert.Equal(1, s.WordCounts["wait"]);
        Assert.Equal(1, s.WordCounts["re-check"]);
        Assert.Equal(2, s.WordCounts["verify"]);        // "verify" and "Verify", one response
        Assert.Equal(1, s.WordCounts["yet"]);
        Assert.Equal(1, s.WordCounts["think again"]);
        Assert.Equal(0, s.WordCounts["recheck"]);       // "re-check" is its own word
        Assert.Equal(6, s.WordCounts.Values.Sum());
        // Substrings count, as in MAYE: "rethinking" has "rethink", "reevaluation" also holds "reevaluat…" but not "reevaluate".
        var t = ReflectionMetrics.Compute([("Rethinking the REEVALUATION; waiting, yet yet", false)]);
        Assert.Equal(1, t.WordCounts["rethink"]);
        Assert.Equal(1, t.WordCounts["reevaluation"]);
        Assert.Equal(0, t.WordCounts["reevaluate"]);
        Assert.Equal(1, t.WordCounts["wait"]);
        Assert.Equal(2, t.WordCounts["yet"]);
        Assert.Equal(2, ReflectionMetrics.Occurrences("aaaa", "aa"));   // non-overlapping, as Python's str.count
    }

    [Fact]
    public void Empty_denominators_are_missing_not_zero()
    {
        var empty = ReflectionMetrics.Compute([]);
        Assert.All(empty.Ratios, r => Assert.Null(r.Value));
        Assert.All(empty.WordCounts.Values, c => Assert.Equal(0, c));

        // All correct, none reflective: N − N+ = 0 and N_ref = 0.
        var plain = ReflectionMetrics.Compute([("\\boxed{1}", true), ("\\boxed{2}", true)]);
        Assert.Equal(0.0, plain.ReflectionRatio);
        Assert.Equal(0.0, plain.ReflectionRatioInCorrectAnswers);
        Assert.Null(plain.ReflectionRatioInIncorrectAnswers);
        Assert.Null(plain.CorrectRatioInReflectionTexts);
        Assert.Equal(1.0, plain.CorrectRatioInNoReflectionTexts);

        // All wrong, all reflective: N+ = 0 and N − N_ref = 0.
        var lost = ReflectionMetrics.Compute([("wait", false), ("let me verify", false)]);
        Assert.Equal(1.0, lost.ReflectionRatio);
        Assert.Null(lost.ReflectionRatioInCorrectAnswers);
        Assert.Equal(1.0, lost.ReflectionRatioInIncorrectAnswers);
        Assert.Equal(0.0, lost.CorrectRatioInReflectionTexts);
        Assert.Null(lost.CorrectRatioInNoReflectionTexts);
    }

    [Fact]
    public void Each_of_the_fifteen_words_is_recognised()
    {
        Assert.Equal(15, ReflectionMetrics.Words.Distinct().Count());
        foreach (var word in ReflectionMetrics.Words)
        {
            Assert.True(ReflectionMetrics.IsReflective($"So, {word.ToUpperInvariant()}."), word);
            Assert.Equal(1, ReflectionMetrics.Compute([($"x {word} y", true)]).WordCounts[word]);
        }
        Assert.False(ReflectionMetrics.IsReflective("The answer is \\boxed{4}."));
    }
}
