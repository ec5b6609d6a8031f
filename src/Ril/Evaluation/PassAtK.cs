namespace Ril.Evaluation;

/// <summary>
/// pass@k: the chance that at least one of k samples of a question is correct. MAYE samples exactly k responses per
/// question and counts the question as solved when any is (<see cref="Plain"/>); with n ≥ k samples of which c are
/// correct, the unbiased estimator of Chen et al. 2021 (Codex) is 1 − C(n−c, k)/C(n, k) (<see cref="Unbiased"/>).
/// </summary>
public static class PassAtK
{
    /// <summary>1 − C(n−c, k)/C(n, k), computed as 1 − Π_{i=n−c+1}^{n} (1 − k/i) so that large n never overflows.</summary>
    public static double Unbiased(int n, int c, int k)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n), $"pass@k needs at least one sample (n = {n})");
        if (c < 0 || c > n) throw new ArgumentOutOfRangeException(nameof(c), $"correct samples c = {c} must be in [0, n = {n}]");
        if (k < 1 || k > n) throw new ArgumentOutOfRangeException(nameof(k), $"k = {k} must be in [1, n = {n}]");
        if (n - c < k) return 1.0;   // every draw of k samples contains a correct one
        double allWrong = 1.0;
        for (int i = n - c + 1; i <= n; i++) allWrong *= 1.0 - (double)k / i;
        return 1.0 - allWrong;
    }

    /// <summary>MAYE's pass@k of one question: its k samples' verdicts, solved when any is correct.</summary>
    public static bool Plain(IEnumerable<bool> verdicts)
    {
        bool any = false, some = false;
        foreach (var v in verdicts) { some = true; any |= v; }
        return some ? any : throw new ArgumentException("pass@k of a question with no samples");
    }

    /// <summary>Share of questions solved under <see cref="Plain"/>; null for no questions.</summary>
    public static double? Accuracy(IEnumerable<IEnumerable<bool>> perQuestion)
    {
        int questions = 0, solved = 0;
        foreach (var q in perQuestion) { questions++; if (Plain(q)) solved++; }
        return questions == 0 ? null : (double)solved / questions;
    }

    /// <summary>Mean of <see cref="Unbiased"/> over questions (each with n samples, c correct); null for no questions.</summary>
    public static double? MeanUnbiased(IEnumerable<(int N, int C)> perQuestion, int k)
    {
        double sum = 0; int questions = 0;
        foreach (var (n, c) in perQuestion) { sum += Unbiased(n, c, k); questions++; }
        return questions == 0 ? null : sum / questions;
    }
}
