using Ril.Tensors.Autograd;
using Ril.Tensors.Kernels;
using Ril.Tensors.Memory;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Ril.Tensors;

/// <summary>Fused normalisations over the last axis; each saves only one or two floats per row for backward.</summary>
public static partial class Ops
{
    /// <summary>RMSNorm (Llama/Qwen2): y = x · rsqrt(mean(x²) + ε) · w.</summary>
    public static Tensor RmsNorm(Tensor x, Tensor weight, float eps)
    {
        var (rows, d) = ShapeOf.Rows(x.Shape);
        if (weight.Length != d) throw new ArgumentException($"RmsNorm: weight {ShapeOf.Format(weight.Shape)} does not match last dim of {ShapeOf.Format(x.Shape)}");
        var rstd = new float[rows];
        var y = Tensor.Empty((int[])x.Shape.Clone());
        Chunks.Rows(rows, d, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var xr = x.Data.Slice(r * d, d); var yr = y.Data.Slice(r * d, d);
                rstd[r] = 1f / MathF.Sqrt(TP.Dot(xr, xr) / d + eps);
                TP.Multiply(xr, rstd[r], yr);
                TP.Multiply(yr, weight.Data, yr);
            }
        });
        return Tape.Record(y, "RmsNorm", [x, weight], o =>
        {
            // n = x·r; dn = g·w; dx = r·(dn − n·⟨dn, n⟩/d); dw = Σ_rows g·n
            NormBackward(rows, d, o.Grad!, weight, x.RequiresGrad ? x : null, bias: null,
                (r, n) => TP.Multiply(x.Data.Slice(r * d, d), rstd[r], n),
                (r, dn, n, dx) =>
                {
                    float c = TP.Dot(dn, n) / d;
                    for (int i = 0; i < d; i++) dx[i] += rstd[r] * (dn[i] - n[i] * c);
                });
        });
    }

    /// <summary>LayerNorm: y = (x − μ)·rsqrt(σ² + ε)·w + b, σ² the biased variance (as torch).</summary>
    public static Tensor LayerNorm(Tensor x, Tensor weight, Tensor? bias, float eps)
    {
        var (rows, d) = ShapeOf.Rows(x.Shape);
        if (weight.Length != d || (bias is not null && bias.Length != d))
            throw new ArgumentException($"LayerNorm: weight {ShapeOf.Format(weight.Shape)} / bias do not match last dim of {ShapeOf.Format(x.Shape)}");
        var mean = new float[rows];
        var rstd = new float[rows];
        var y = Tensor.Empty((int[])x.Shape.Clone());
        Chunks.Rows(rows, d, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var xr = x.Data.Slice(r * d, d); var yr = y.Data.Slice(r * d, d);
                mean[r] = TP.Sum(xr) / d;
                TP.Subtract(xr, mean[r], yr);
                rstd[r] = 1f / MathF.Sqrt(TP.Dot(yr, yr) / d + eps);
                TP.Multiply(yr, rstd[r], yr);
                TP.Multiply(yr, weight.Data, yr);
                if (bias is not null) TP.Add(yr, bias.Data, yr);
            }
        });
        Tensor[] inputs = bias is null ? [x, weight] : [x, weight, bias];
        return Tape.Record(y, "LayerNorm", inputs, o =>
        {
            // n = (x − μ)·r; dn = g·w; dx = r·(dn − mean(dn) − n·⟨dn, n⟩/d); dw = Σ g·n; db = Σ g
            NormBackward(rows, d, o.Grad!, weight, x.RequiresGrad ? x : null, bias,
                (r, n) => { TP.Subtract(x.Data.Slice(r * d, d), mean[r], n); TP.Multiply(n, rstd[r], n); },
                (r, dn, n, dx) =>
                {
                    float mdn = TP.Sum(dn) / d, c = TP.Dot(dn, n) / d;
                    for (int i = 0; i < d; i++) dx[i] += rstd[r] * (dn[i] - mdn - n[i] * c);
                });
        });
    }

    /// <summary>L2 normalisation over the last axis: y = x · rsqrt(Σx² + ε), ε inside the root (Gated DeltaNet's q and k,
    /// docs/spec/QWEN3_5.md "L2 normalisation and softplus"). Saves one float per row.</summary>
    public static Tensor L2Normalize(Tensor x, float eps = 1e-6f)
    {
        var (rows, d) = ShapeOf.Rows(x.Shape);
        var rnorm = new float[rows];
        var y = Tensor.Empty((int[])x.Shape.Clone());
        Chunks.Rows(rows, d, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var xr = x.Data.Slice(r * d, d);
                rnorm[r] = 1f / MathF.Sqrt(TP.Dot(xr, xr) + eps);
                TP.Multiply(xr, rnorm[r], y.Data.Slice(r * d, d));
            }
        });
        return Tape.Record(y, "L2Normalize", [x], o =>
        {
            x.GradData();   // created before the parallel region
            // y = x·r, r = (Σx² + ε)^−½:  dx = r·(g − y·⟨g, y⟩)
            Chunks.Rows(rows, d, (r0, r1) =>
            {
                for (int r = r0; r < r1; r++)
                {
                    var g = o.Grad!.Data.Slice(r * d, d); var yr = o.Data.Slice(r * d, d); var dx = x.Grad!.Data.Slice(r * d, d);
                    float c = TP.Dot(g, yr);
                    for (int i = 0; i < d; i++) dx[i] += rnorm[r] * (g[i] - yr[i] * c);
                }
            });
        });
    }

    delegate void Normalized(int row, Span<float> n);
    delegate void InputGrad(int row, ReadOnlySpan<float> dn, ReadOnlySpan<float> n, Span<float> dx);

    /// <summary>
    /// Shared backward of the row norms: recomputes the normalised row n, accumulates dw (and db) into per-thread
    /// partial sums added in a fixed order (deterministic for a thread count), and lets <paramref name="inputGrad"/> add dx.
    /// </summary>
    static void NormBackward(int rows, int d, Tensor gradOut, Tensor weight, Tensor? x, Tensor? bias, Normalized normalized, InputGrad inputGrad)
    {
        x?.GradData();   // created before the parallel region
        var partials = new List<(int start, float[] dw, float[] db)>();
        var gate = new Lock();
        Chunks.Rows(rows, d, (r0, r1) =>
        {
            var dw = BufferPool.Rent(d, clear: true);
            var db = BufferPool.Rent(d, clear: true);
            var n = BufferPool.Rent(d, clear: false);
            var dn = BufferPool.Rent(d, clear: false);
            for (int r = r0; r < r1; r++)
            {
                var g = gradOut.Data.Slice(r * d, d);
                normalized(r, n);
                TP.MultiplyAdd(g, n, dw, dw);
                TP.Add(db, g, db);
                if (x is null) continue;
                TP.Multiply(g, weight.Data, dn);
                inputGrad(r, dn, n, x.Grad!.Data.Slice(r * d, d));
            }
            BufferPool.Return(n); BufferPool.Return(dn);
            lock (gate) partials.Add((r0, dw, db));
        });
        partials.Sort((p, q) => p.start.CompareTo(q.start));
        foreach (var (_, dw, db) in partials)
        {
            if (weight.RequiresGrad) { var wg = weight.GradData(); TP.Add(wg, dw, wg); }
            if (bias is { RequiresGrad: true }) { var bg = bias.GradData(); TP.Add(bg, db, bg); }
            BufferPool.Return(dw); BufferPool.Return(db);
        }
    }
}
