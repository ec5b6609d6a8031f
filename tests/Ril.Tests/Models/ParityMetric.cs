namespace Ril.Tests.Models;

/// <summary>
/// The parity metric of every model test against its float64 reference: per element |a − b| / max(|b|, 0.01·max|b|),
/// a the engine and b the reference; the worst element is what a test bounds (1e-4).
/// </summary>
public static class ParityMetric
{
    public static double WorstRelative(ReadOnlySpan<float> actual, ReadOnlySpan<float> expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        float scale = 0;
        foreach (var v in expected) scale = Math.Max(scale, Math.Abs(v));
        double worst = 0;
        for (int i = 0; i < actual.Length; i++)
            worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]) / Math.Max(Math.Abs(expected[i]), 0.01 * scale));
        return worst;
    }
}
