using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Ril.Tensors.Kernels;

/// <summary>
/// Sizes of one depthwise causal convolution over [B, T, C] rows: kernel width K, and where each position's window
/// starts (<see cref="RunStart"/>[b·T + t] = the first position of t's packed sequence; null = 0 for every t).
/// Positions before the window start read the history (first sequence of a row) or zeros.
/// </summary>
internal readonly record struct CausalConvGeometry(int B, int T, int C, int K, int[]? RunStart)
{
    public int Start(int b, int t) => RunStart is null ? 0 : RunStart[b * T + t];
}

/// <summary>
/// Depthwise causal conv1d kernels (docs/spec/QWEN3_5.md "Causal conv"): y[t, c] = Σ_i w[c, i]·x[t−(K−1)+i, c].
/// The vectorised kernels work on whole channel rows with the weight transposed to [K, C] and the history to
/// [B, K−1, C]; the scalar references index the tensors as the formula reads. Tests compare the two.
/// </summary>
internal static class CausalConvKernels
{
    /// <summary>The input row feeding position t at tap i (τ = t − (K−1) + i), or an empty span for a zero.</summary>
    static ReadOnlySpan<float> Tap(in CausalConvGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> historyT, int b, int t, int i)
    {
        int tau = t - (g.K - 1) + i, start = g.Start(b, t);
        if (tau >= start) return x.Slice((b * g.T + tau) * g.C, g.C);
        if (start > 0 || historyT.IsEmpty) return default;        // a packed sequence's window restarts from zeros
        return historyT.Slice((b * (g.K - 1) + (g.K - 1) + tau) * g.C, g.C);   // τ < 0: the (−τ)-th previous input
    }

    /// <summary>y rows [r0, r1) of the flattened (b, t) rows; <paramref name="weightT"/> is [K, C].</summary>
    public static void Forward(in CausalConvGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> weightT, ReadOnlySpan<float> historyT, Span<float> y, int r0, int r1)
    {
        for (int r = r0; r < r1; r++)
        {
            int b = r / g.T, t = r % g.T;
            var yr = y.Slice(r * g.C, g.C);
            yr.Clear();
            for (int i = 0; i < g.K; i++)
            {
                var xi = Tap(g, x, historyT, b, t, i);
                if (!xi.IsEmpty) TP.MultiplyAdd(xi, weightT.Slice(i * g.C, g.C), yr, yr);
            }
        }
    }

    /// <summary>
    /// dx rows [r0, r1) (accumulated) and this range's share of dwᵀ [K, C] (accumulated into <paramref name="dweightT"/>):
    /// dx[τ, c] = Σ_i w[c, i]·dy[τ + K−1−i, c] over the positions of τ's own sequence; dw[c, i] = Σ_t dy[t, c]·x[t−(K−1)+i, c].
    /// </summary>
    public static void Backward(in CausalConvGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> weightT, ReadOnlySpan<float> historyT,
        ReadOnlySpan<float> dy, Span<float> dx, Span<float> dweightT, int r0, int r1)
    {
        for (int r = r0; r < r1; r++)
        {
            int b = r / g.T, tau = r % g.T;
            var dyr = dy.Slice(r * g.C, g.C);
            if (!dx.IsEmpty)
            {
                var dxr = dx.Slice(r * g.C, g.C);
                for (int i = 0; i < g.K; i++)
                {
                    int t = tau + g.K - 1 - i;
                    if (t < g.T && g.Start(b, t) <= tau) TP.MultiplyAdd(weightT.Slice(i * g.C, g.C), dy.Slice((b * g.T + t) * g.C, g.C), dxr, dxr);
                }
            }
            if (dweightT.IsEmpty) continue;
            for (int i = 0; i < g.K; i++)
            {
                var xi = Tap(g, x, historyT, b, tau, i);   // here tau plays the output position t
                if (!xi.IsEmpty) { var dw = dweightT.Slice(i * g.C, g.C); TP.MultiplyAdd(xi, dyr, dw, dw); }
            }
        }
    }

    /// <summary>Scalar reference of <see cref="Forward"/>: x [B, T, C], weight [C, K], history [B, C, K−1] or empty.</summary>
    public static void ForwardReference(in CausalConvGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> history, Span<float> y)
    {
        for (int b = 0; b < g.B; b++)
            for (int t = 0; t < g.T; t++)
                for (int c = 0; c < g.C; c++)
                {
                    double s = 0;
                    for (int i = 0; i < g.K; i++) s += (double)weight[c * g.K + i] * Input(g, x, history, b, t - (g.K - 1) + i, g.Start(b, t), c);
                    y[(b * g.T + t) * g.C + c] = (float)s;
                }
    }

    /// <summary>Scalar reference of <see cref="Backward"/> (whole tensors; dx and dweight [C, K] are accumulated).</summary>
    public static void BackwardReference(in CausalConvGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> history,
        ReadOnlySpan<float> dy, Span<float> dx, Span<float> dweight)
    {
        for (int b = 0; b < g.B; b++)
            for (int t = 0; t < g.T; t++)
                for (int c = 0; c < g.C; c++)
                {
                    float d = dy[(b * g.T + t) * g.C + c];
                    int start = g.Start(b, t);
                    for (int i = 0; i < g.K; i++)
                    {
                        int tau = t - (g.K - 1) + i;
                        dweight[c * g.K + i] += d * Input(g, x, history, b, tau, start, c);
                        if (tau >= start) dx[(b * g.T + tau) * g.C + c] += d * weight[c * g.K + i];
                    }
                }
    }

    static float Input(in CausalConvGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> history, int b, int tau, int start, int c)
    {
        if (tau >= start) return x[(b * g.T + tau) * g.C + c];
        if (start > 0 || history.IsEmpty) return 0f;
        return history[(b * g.C + c) * (g.K - 1) + (g.K - 1) + tau];
    }
}
