using Ril.Evaluation;

namespace Ril.Tests.Evaluation;

public class PassAtKTests
{
    static double Binomial(int n, int k)
    {
        if (k < 0 || k > n) return 0;
        double r = 1;
        for (int i = 1; i <= k; i++) r = r * (n - k + i) / i;
        return r;
    }

    [Theory]
    [InlineData(1, 0, 1, 0.0)]
    [InlineData(1, 1, 1, 1.0)]
    [InlineData(2, 1, 1, 0.5)]
    [InlineData(4, 1, 2, 0.5)]          // 1 − C(3,2)/C(4,2) = 1 − 3/6
    [InlineData(5, 2, 2, 0.7)]          // 1 − C(3,2)/C(5,2) = 1 − 3/10
    [InlineData(8, 0, 8, 0.0)]
    [InlineData(8, 1, 8, 1.0)]          // n − c < k: every draw holds the correct one
    [InlineData(10, 3, 1, 0.3)]         // pass@1 = c / n
    [InlineData(6, 5, 3, 1.0)]
    public void Unbiased_estimator_on_hand_cases(int n, int c, int k, double expected) =>
        Assert.Equal(expected, PassAtK.Unbiased(n, c, k), 12);

    [Fact]
    public void Unbiased_estimator_equals_the_binomial_formula()
    {
        for (int n = 1; n <= 20; n++)
            for (int c = 0; c <= n; c++)
                for (int k = 1; k <= n; k++)
                    Assert.Equal(1 - Binomial(n - c, k) / Binomial(n, k), PassAtK.Unbiased(n, c, k), 10);
        Assert.InRange(PassAtK.Unbiased(2000, 3, 100), 0.14, 0.15);   // large n: no overflow
    }

    [Fact]
    public void Bad_arguments_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => PassAtK.Unbiased(0, 0, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => PassAtK.Unbiased(4, 5, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => PassAtK.Unbiased(4, 1, 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => PassAtK.Unbiased(4, 1, 0));
        Assert.Throws<ArgumentException>(() => PassAtK.Plain([]));
    }

    [Fact]
    public void Plain_pass_at_k_counts_a_question_solved_when_any_sample_is()
    {
        Assert.True(PassAtK.Plain([false, false, true, false]));
        Assert.False(PassAtK.Plain([false, false]));
        Assert.True(PassAtK.Plain([true]));
        bool[][] questions = [[false, true], [false, false], [true, true], [false, false]];
        Assert.Equal(0.5, PassAtK.Accuracy(questions));
        Assert.Null(PassAtK.Accuracy([]));                       // no questions: missing, not 0
        Assert.Equal((0.5 + 0 + 1 + 0) / 4, PassAtK.MeanUnbiased(questions.Select(q => (q.Length, q.Count(v => v))), 1));
        Assert.Null(PassAtK.MeanUnbiased([], 1));
    }
}
