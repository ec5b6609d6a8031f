using Ril.Tensors.Kernels;

namespace Ril.Tensors.Tests;

/// <summary>Dropout's hashed mask: its keep rate, its independence between calls, and its sameness on any thread count.</summary>
[Collection("GemmKernels")]
public class DropoutTests
{
    static float[] Run(int threads, int n, float p, ulong seed)
    {
        int old = WorkerPool.Shared.Threads;
        WorkerPool.SetThreads(threads);
        try { return Ops.Dropout(Tensor.Full(1f, n), p, new Rng(seed)).ToArray(); }
        finally { WorkerPool.SetThreads(old); }
    }

    [Fact]
    public void Keeps_each_element_with_probability_one_minus_p_scaled()
    {
        const int n = 1 << 20;
        foreach (float p in new[] { 0.05f, 0.3f, 0.9f })
        {
            var y = Run(2, n + 13, p, 1);    // + 13: the scalar tail after the vector loop
            Assert.All(y, v => Assert.True(v == 0f || v == 1f / (1f - p), $"p={p}: {v}"));
            double kept = y.Count(v => v != 0) / (double)y.Length, sd = Math.Sqrt(p * (1 - p) / y.Length);
            Assert.True(Math.Abs(kept - (1 - p)) < 5 * sd, $"p={p}: kept {kept:F5}, expected {1 - p} ± {sd:F5}");
            // Neighbouring elements are independent: P(both kept) = (1 − p)².
            double pairs = Enumerable.Range(0, y.Length - 1).Count(i => y[i] != 0 && y[i + 1] != 0) / (double)(y.Length - 1);
            Assert.True(Math.Abs(pairs - (1 - p) * (1 - p)) < 0.005, $"p={p}: neighbours both kept {pairs:F5}");
        }
    }

    [Fact]
    public void Same_mask_on_any_thread_count_and_a_new_one_per_draw()
    {
        var one = Run(1, 100_003, 0.3f, 5);
        Assert.Equal(one, Run(3, 100_003, 0.3f, 5));
        var other = Run(1, 100_003, 0.3f, 6);
        double agree = one.Zip(other).Count(t => (t.First == 0) == (t.Second == 0)) / (double)one.Length;
        Assert.True(Math.Abs(agree - (0.7 * 0.7 + 0.3 * 0.3)) < 0.01, $"masks of two seeds agree on {agree:P1}");
    }
}
