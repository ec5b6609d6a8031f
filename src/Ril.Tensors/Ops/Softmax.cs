using Ril.Tensors.Autograd;
using Ril.Tensors.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Ril.Tensors;

/// <summary>Softmax-family ops over the last axis, and the fused per-token quantities RL needs from logits.</summary>
public static partial class Ops
{
    /// <summary>softmax(x)_i = exp(x_i − max x) / Σ_j exp(x_j − max x), over the last axis.</summary>
    public static Tensor Softmax(Tensor x)
    {
        var (rows, cols) = ShapeOf.Rows(x.Shape);
        var y = Tensor.Empty((int[])x.Shape.Clone());
        Chunks.Rows(rows, cols, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++) SoftmaxRow(x.Data.Slice(r * cols, cols), y.Data.Slice(r * cols, cols));
        });
        return Tape.Record(y, "Softmax", [x], o => Chunks.Rows(rows, cols, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var yr = o.Data.Slice(r * cols, cols); var gr = o.Grad!.Data.Slice(r * cols, cols);
                var dr = x.GradData().Slice(r * cols, cols);
                float dot = TP.Dot(gr, yr);          // dx = y ⊙ (g − ⟨g, y⟩)
                for (int i = 0; i < cols; i++) dr[i] += yr[i] * (gr[i] - dot);
            }
        }));
    }

    /// <summary>
    /// y = exp(x − max x) / Σ exp(x − max x) for one row (<paramref name="y"/> may be <paramref name="x"/>). TensorPrimitives.SoftMax
    /// does not subtract the maximum, so a score above ~88 overflows exp and the row turns NaN.
    /// </summary>
    internal static void SoftmaxRow(ReadOnlySpan<float> x, Span<float> y)
    {
        float max = TP.Max(x);
        TP.Subtract(x, max, y);
        TP.Exp(y, y);
        TP.Divide(y, TP.Sum(y), y);
    }

    /// <summary>log softmax over the last axis: x − logsumexp(x).</summary>
    public static Tensor LogSoftmax(Tensor x)
    {
        var (rows, cols) = ShapeOf.Rows(x.Shape);
        var y = Tensor.Empty((int[])x.Shape.Clone());
        Chunks.Rows(rows, cols, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var xr = x.Data.Slice(r * cols, cols);
                TP.Subtract(xr, LogSumExp(xr), y.Data.Slice(r * cols, cols));
            }
        });
        return Tape.Record(y, "LogSoftmax", [x], o => Chunks.Rows(rows, cols, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var yr = o.Data.Slice(r * cols, cols); var gr = o.Grad!.Data.Slice(r * cols, cols);
                var dr = x.GradData().Slice(r * cols, cols);
                float gs = TP.Sum(gr);               // dx = g − softmax · Σg
                for (int i = 0; i < cols; i++) dr[i] += gr[i] - MathF.Exp(yr[i]) * gs;
            }
        }));
    }

    /// <summary>log Σ exp(x), stable (shifted by the max), accumulated in double.</summary>
    public static float LogSumExp(ReadOnlySpan<float> x)
    {
        float max = TP.Max(x);
        if (float.IsNegativeInfinity(max)) return max;
        Span<float> t = stackalloc float[Math.Min(x.Length, Chunks.Size)];
        double sum = 0;
        for (int s = 0; s < x.Length; s += t.Length)
        {
            int n = Math.Min(t.Length, x.Length - s);
            var ts = t[..n];
            TP.Subtract(x.Slice(s, n), max, ts);
            TP.Exp(ts, ts);
            sum += TP.Sum(ts);
        }
        return max + (float)Math.Log(sum);
    }

    /// <summary>
    /// log softmax(logits)[row, ids[row]] for logits [N, V] (or [..., V] with ids per row): the log-probability of
    /// each chosen token, without materialising the softmax. Backward: d logits = g·(onehot − softmax), the
    /// softmax recomputed row by row from the saved logsumexp.
    /// </summary>
    public static Tensor SelectedLogProbs(Tensor logits, ReadOnlySpan<int> ids)
    {
        var (rows, cols) = ShapeOf.Rows(logits.Shape);
        if (ids.Length != rows)
            throw new ArgumentException($"SelectedLogProbs: {ids.Length} token ids for logits of shape {ShapeOf.Format(logits.Shape)} ({rows} rows)");
        var tok = ids.ToArray();
        foreach (var t in tok)
            if ((uint)t >= (uint)cols) throw new ArgumentException($"SelectedLogProbs: token id {t} is outside the vocabulary of {cols}");
        var lse = new float[rows];
        var y = Tensor.Empty(logits.Shape[..^1]);
        Chunks.Rows(rows, cols, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var xr = logits.Data.Slice(r * cols, cols);
                lse[r] = LogSumExp(xr);
                y.Data[r] = xr[tok[r]] - lse[r];
            }
        });
        return Tape.Record(y, "SelectedLogProbs", [logits], o => Chunks.Rows(rows, cols, (r0, r1) =>
        {
            Span<float> p = stackalloc float[Chunks.Size];
            for (int r = r0; r < r1; r++)
            {
                float g = o.Grad!.Data[r];
                if (g == 0f) continue;
                var xr = logits.Data.Slice(r * cols, cols); var dr = logits.GradData().Slice(r * cols, cols);
                for (int s = 0; s < cols; s += p.Length)
                {
                    int n = Math.Min(p.Length, cols - s);
                    var ps = p[..n];
                    TP.Subtract(xr.Slice(s, n), lse[r], ps);
                    TP.Exp(ps, ps);
                    TP.MultiplyAdd(ps, -g, dr.Slice(s, n), dr.Slice(s, n));
                }
                dr[tok[r]] += g;
            }
        }));
    }

    /// <summary>
    /// Full-vocabulary entropy per row, H = logsumexp(z) − Σ p·z (MAYE's metric, over every token rather than the
    /// sampled one). Backward: dH/dz_j = −p_j (z_j − Σ p·z).
    /// </summary>
    public static Tensor Entropy(Tensor logits)
    {
        var (rows, cols) = ShapeOf.Rows(logits.Shape);
        var lse = new float[rows];
        var meanZ = new float[rows];
        var y = Tensor.Empty(logits.Shape[..^1]);
        Chunks.Rows(rows, cols, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var xr = logits.Data.Slice(r * cols, cols);
                lse[r] = LogSumExp(xr);
                meanZ[r] = ExpectedLogit(xr, lse[r]);
                y.Data[r] = lse[r] - meanZ[r];
            }
        });
        return Tape.Record(y, "Entropy", [logits], o => Chunks.Rows(rows, cols, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                float g = o.Grad!.Data[r];
                if (g == 0f) continue;
                var xr = logits.Data.Slice(r * cols, cols); var dr = logits.GradData().Slice(r * cols, cols);
                for (int j = 0; j < cols; j++)
                {
                    float pj = MathF.Exp(xr[j] - lse[r]);
                    dr[j] -= g * pj * (xr[j] - meanZ[r]);
                }
            }
        }));
    }

    /// <summary>The entropy of one row of logits, logsumexp(z) − Σ p·z, as <see cref="Entropy(Tensor)"/> computes it per row.</summary>
    public static float Entropy(ReadOnlySpan<float> logits, float logSumExp) => logSumExp - ExpectedLogit(logits, logSumExp);

    /// <summary>Σ p·z with p = softmax(z), given logsumexp(z), in chunks that fit on the stack.</summary>
    static float ExpectedLogit(ReadOnlySpan<float> z, float logSumExp)
    {
        Span<float> p = stackalloc float[Chunks.Size];
        double ez = 0;
        for (int s = 0; s < z.Length; s += p.Length)
        {
            int n = Math.Min(p.Length, z.Length - s);
            var ps = p[..n];
            TP.Subtract(z.Slice(s, n), logSumExp, ps);
            TP.Exp(ps, ps);
            ez += TP.Dot(ps, z.Slice(s, n));
        }
        return (float)ez;
    }

    /// <summary>Mean cross-entropy of logits [N, V] against targets, skipping rows whose target is <paramref name="ignoreIndex"/>.</summary>
    public static Tensor CrossEntropy(Tensor logits, ReadOnlySpan<int> targets, int ignoreIndex = -100)
    {
        var (rows, _) = ShapeOf.Rows(logits.Shape);
        if (targets.Length != rows)
            throw new ArgumentException($"CrossEntropy: {targets.Length} targets for logits of shape {ShapeOf.Format(logits.Shape)} ({rows} rows)");
        var ids = new int[rows];
        var weight = new float[rows];
        int counted = 0;
        for (int r = 0; r < rows; r++)
        {
            if (targets[r] == ignoreIndex) continue;
            ids[r] = targets[r];
            weight[r] = 1f;
            counted++;
        }
        // −mean over counted rows of log p(target): a weighted sum of the fused selected log-probs.
        var lp = SelectedLogProbs(logits, ids);
        var w = Tensor.FromArray(weight, rows);
        return MulScalar(SumAll(Mul(lp.Rank == 1 ? lp : Reshape(lp, rows), w)), -1f / Math.Max(1, counted));
    }
}
