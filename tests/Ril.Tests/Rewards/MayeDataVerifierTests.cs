using System.Globalization;
using System.Text.RegularExpressions;
using Ril.Data;
using Ril.Rewards;
using Ril.Tests.Data;
using Xunit.Abstractions;

namespace Ril.Tests.Rewards;

/// <summary>
/// The verifier on every row of the MAYE data in tests/fixtures/maye: the final answer of the gold
/// <c>solution</c> must be judged equivalent to the short <c>answer</c>, and perturbed answers must not.
/// </summary>
public class MayeDataVerifierTests(ITestOutputHelper output)
{
    static readonly MathVerifier Verifier = new();

    /// <summary>
    /// Rows whose gold solution really disagrees with their answer field, with the reason. Empty: every
    /// miss found so far was a verifier bug and was fixed. A row added here must say why.
    /// </summary>
    static readonly Dictionary<string, string> DataDefects = new();

    public static TheoryData<string> Files() => new(Directory.GetFiles(RepoPaths.MayeData, "*.jsonl").Select(Path.GetFileName).Order()!);

    [Theory]
    [MemberData(nameof(Files))]
    public void Gold_solution_is_equivalent_to_the_answer(string file)
    {
        var rows = JsonlDataset.Load(Path.Combine(RepoPaths.MayeData, file), ImageMode.TextOnly);
        var byHow = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var misses = new List<string>();
        foreach (var row in rows)
        {
            Assert.False(string.IsNullOrEmpty(row.Solution), $"{row.Location}: no solution");
            var how = HowMatched(row.Answer, row.Solution!);
            byHow[how ?? "miss"] = byHow.GetValueOrDefault(how ?? "miss") + 1;
            if (how == null && !DataDefects.ContainsKey(row.Id))
                misses.Add($"{row.Location} {row.Id}: answer '{row.Answer}', solution's final answer '{AnswerExtraction.LastBoxed(row.Solution!)}'");
        }
        int matched = rows.Count - byHow.GetValueOrDefault("miss");
        output.WriteLine($"{file}: {matched}/{rows.Count} = {(100.0 * matched / rows.Count).ToString("F1", CultureInfo.InvariantCulture)}% ({string.Join(", ", byHow.Select(kv => $"{kv.Key} {kv.Value}"))})");
        Assert.True(misses.Count == 0, "misses:\n" + string.Join("\n", misses));
    }

    /// <summary>How the solution's final answer matched: "same text", a verifier rule, "… via all boxes"; null for a miss.</summary>
    static string? HowMatched(string answer, string solution)
    {
        var candidates = AnswerExtraction.FinalAnswerCandidates(solution).ToList();
        for (int i = 0; i < candidates.Count; i++)
        {
            var result = Verifier.Verify(answer, candidates[i]);
            if (!result.Equivalent) continue;
            var how = candidates[i] == answer ? "same text" : result.Rule == VerifierRule.Identical ? "same after normalising" : result.Rule.ToString();
            return i == 0 ? how : how + " via all boxes";
        }
        return null;
    }

    static IEnumerable<DatasetRow> AllRows() =>
        Directory.GetFiles(RepoPaths.MayeData, "*.jsonl").Order().SelectMany(f => JsonlDataset.Load(f, ImageMode.TextOnly));

    [Fact]
    public void Another_rows_answer_is_not_equivalent()
    {
        var rows = AllRows().ToList();
        int compared = 0;
        var wrong = new List<string>();
        for (int i = 0; i < rows.Count; i++)
        {
            // Three other rows at fixed strides, skipping rows whose answer has the same value written
            // another way ("20" and "20.0"): ValueKey is a crude, independent reading of the value.
            foreach (int stride in new[] { 1, 101, 1009 })
            {
                var other = rows[(i + stride) % rows.Count];
                if (ValueKey(other.Answer) == ValueKey(rows[i].Answer) || SameValueWrittenTwoWays.Contains((rows[i].Answer, other.Answer))) continue;
                compared++;
                var result = Verifier.Verify(rows[i].Answer, other.Answer);
                if (result.Equivalent) wrong.Add($"'{rows[i].Answer}' ≡ '{other.Answer}' by {result.Rule}");
            }
        }
        output.WriteLine($"{compared} pairs of different answers compared, {wrong.Count} judged equivalent");
        Assert.True(compared > 3 * rows.Count * 0.8);
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    /// <summary>Pairs of answers of different rows that really have the same value, which <see cref="ValueKey"/> cannot see.</summary>
    static readonly HashSet<(string, string)> SameValueWrittenTwoWays =
    [
        (@"\frac { 3 } { 2 }", "1.5"),
    ];

    /// <summary>Digits with trailing zeros of decimals dropped, or the letters for answers without digits.</summary>
    static string ValueKey(string answer)
    {
        var digits = Regex.Replace(Regex.Replace(answer, @"(\.\d*?)0+\b", "$1"), @"\.(?!\d)|[^\d.]", "");
        return digits.Length > 0 ? digits : Regex.Replace(answer, @"\s", "").ToLowerInvariant();
    }

    [Fact]
    public void A_changed_number_is_not_equivalent()
    {
        int changed = 0, withoutDigits = 0;
        var wrong = new List<string>();
        foreach (var row in AllRows())
        {
            var perturbed = ChangeLeadingDigit(row.Answer);
            if (perturbed == null) { withoutDigits++; continue; }
            changed++;
            var result = Verifier.Verify(row.Answer, perturbed);
            if (result.Equivalent) wrong.Add($"{row.Location}: '{row.Answer}' ≡ '{perturbed}' by {result.Rule}");
            // The same perturbation inside a whole response.
            if (Verifier.Equivalent(row.Answer, $"Thus the answer is \\boxed{{{perturbed}}}.")) wrong.Add($"{row.Location}: boxed '{perturbed}'");
        }
        output.WriteLine($"{changed} answers with a changed number, {withoutDigits} without digits skipped, {wrong.Count} judged equivalent");
        Assert.True(wrong.Count == 0, string.Join("\n", wrong));
    }

    /// <summary>
    /// Raises the leading digit of the first number (9 becomes 8), which moves its value by at least a tenth;
    /// digits in subscripts ("Q_1") are labels, not numbers, and are left alone.
    /// </summary>
    static string? ChangeLeadingDigit(string answer)
    {
        var match = Regex.Match(answer, @"(?<![_\d.])\d");
        if (!match.Success) return null;
        char digit = answer[match.Index];
        // A leading zero stays (0.5 → 1.5 would also do, but "0" alone becomes "1").
        char changed = digit == '9' ? '8' : (char)(digit + 1);
        return answer[..match.Index] + changed + answer[(match.Index + 1)..];
    }
}
