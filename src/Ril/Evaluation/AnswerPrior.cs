using Ril.Data;

namespace Ril.Evaluation;

/// <summary>
/// A blind baseline: answer each question with the training set's most common answer to the same question text,
/// else with its most common answer overall. It never looks at the image, so accuracy above it is perception
/// (or reasoning), and a gain that stops at it is a learned answer prior.
/// </summary>
public sealed class AnswerPrior
{
    readonly Dictionary<string, string> _byQuestion;

    /// <summary>The training set's most common answer (ties go to the ordinally first).</summary>
    public string Overall { get; }

    AnswerPrior(Dictionary<string, string> byQuestion, string overall) { _byQuestion = byQuestion; Overall = overall; }

    public static AnswerPrior Fit(IEnumerable<DatasetRow> train)
    {
        var rows = train.ToList();
        if (rows.Count == 0) throw new ArgumentException("the answer prior needs at least one training row");
        var byQuestion = rows.GroupBy(r => r.Question).ToDictionary(g => g.Key, g => MostCommon(g.Select(r => r.Answer)));
        return new AnswerPrior(byQuestion, MostCommon(rows.Select(r => r.Answer)));
    }

    /// <summary>The prior's answer to <paramref name="question"/>.</summary>
    public string Answer(string question) => _byQuestion.GetValueOrDefault(question, Overall);

    /// <summary>The share of <paramref name="rows"/> whose gold answer is the prior's answer (exact string match).</summary>
    public double Accuracy(IReadOnlyCollection<DatasetRow> rows) => Share(rows, r => Answer(r.Question) == r.Answer);

    /// <summary>The share of <paramref name="rows"/> whose gold answer is <see cref="Overall"/>.</summary>
    public double OverallAccuracy(IReadOnlyCollection<DatasetRow> rows) => Share(rows, r => r.Answer == Overall);

    static double Share(IReadOnlyCollection<DatasetRow> rows, Func<DatasetRow, bool> right) => rows.Count == 0 ? 0 : rows.Count(right) / (double)rows.Count;

    static string MostCommon(IEnumerable<string> answers) =>
        answers.GroupBy(a => a).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).First().Key;
}
