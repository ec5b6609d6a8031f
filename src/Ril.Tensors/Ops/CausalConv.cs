using Ril.Tensors.Autograd;
using Ril.Tensors.Kernels;
using Ril.Tensors.Memory;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Ril.Tensors;

/// <summary>Depthwise causal convolution over time (Gated DeltaNet's short conv), with its decoding state.</summary>
public static partial class Ops
{
    /// <summary>
    /// Depthwise causal conv1d without bias (docs/spec/QWEN3_5.md "Causal conv"):
    /// x [B, T, C], weight [C, K] (a checkpoint's [C, 1, K] reshaped), history [B, C, K−1] the K−1 inputs before t = 0,
    /// newest last (constant; zeros when null). y[t, c] = Σ_i w[c, i]·x[t−(K−1)+i, c]. With <paramref name="segments"/>
    /// ([B·T] sequence numbers, as <see cref="AttentionMask.Segments"/>) the window restarts from zeros where the
    /// number changes; the history feeds only a row's first sequence. Differentiable in x and weight.
    /// </summary>
    public static Tensor CausalConv1d(Tensor x, Tensor weight, Tensor? history = null, int[]? segments = null)
    {
        if (x.Rank != 3 || weight.Rank != 2 || weight.Shape[0] != x.Shape[2] || weight.Shape[1] < 1)
            throw new ArgumentException($"CausalConv1d: x {ShapeOf.Format(x.Shape)} and weight {ShapeOf.Format(weight.Shape)} must be [B, T, C] and [C, K]");
        int b = x.Shape[0], t = x.Shape[1], c = x.Shape[2], k = weight.Shape[1];
        if (history is not null && !ShapeOf.Equal(history.Shape, [b, c, k - 1]))
            throw new ArgumentException($"CausalConv1d: history {ShapeOf.Format(history.Shape)} must be [B, C, K−1] = {ShapeOf.Format([b, c, k - 1])}");
        var geo = new CausalConvGeometry(b, t, c, k, RunStarts(segments, b, t, "CausalConv1d"));
        var weightT = Transposed(weight.Data, c, k);
        var historyT = history is null ? null : TransposedRows(history.Data, b, c, k - 1);
        var y = Tensor.Empty([b, t, c]);
        Chunks.Rows(b * t, c * k, (r0, r1) => CausalConvKernels.Forward(geo, x.Data, weightT, historyT, y.Data, r0, r1));
        return Tape.Record(y, "CausalConv1d", [x, weight], o =>
        {
            if (x.RequiresGrad) x.GradData();   // created before the parallel region
            var partials = new List<(int start, float[] dwT)>();
            var gate = new Lock();
            Chunks.Rows(b * t, c * k, (r0, r1) =>
            {
                var dwT = weight.RequiresGrad ? BufferPool.Rent(k * c, clear: true) : null;
                CausalConvKernels.Backward(geo, x.Data, weightT, historyT, o.Grad!.Data, x.RequiresGrad ? x.Grad!.Data : default,
                    dwT is null ? default : dwT.AsSpan(0, k * c), r0, r1);
                if (dwT is not null) lock (gate) partials.Add((r0, dwT));
            });
            partials.Sort((p, q) => p.start.CompareTo(q.start));   // a fixed order of the partial sums: deterministic
            if (partials.Count == 0) return;
            var sum = partials[0].dwT.AsSpan(0, k * c);
            foreach (var (_, dwT) in partials.Skip(1)) { TP.Add(sum, dwT.AsSpan(0, k * c), sum); BufferPool.Return(dwT); }
            var dw = weight.GradData();
            for (int ch = 0; ch < c; ch++)
                for (int i = 0; i < k; i++) dw[ch * k + i] += sum[i * c + ch];
            BufferPool.Return(partials[0].dwT);
        });
    }

    /// <summary>
    /// One decoding step of <see cref="CausalConv1d"/>, without grad: x [B, C] is the new input; history [B, C, K−1]
    /// (the previous K−1 inputs, newest last) is updated in place, shifted by one with x appended. Returns y [B, C].
    /// </summary>
    public static Tensor CausalConv1dStep(Tensor history, Tensor x, Tensor weight)
    {
        if (x.Rank != 2 || weight.Rank != 2 || weight.Shape[0] != x.Shape[1] || !ShapeOf.Equal(history.Shape, [x.Shape[0], x.Shape[1], weight.Shape[1] - 1]))
            throw new ArgumentException($"CausalConv1dStep: history {ShapeOf.Format(history.Shape)}, x {ShapeOf.Format(x.Shape)}, weight {ShapeOf.Format(weight.Shape)} must be [B, C, K−1], [B, C], [C, K]");
        int b = x.Shape[0], c = x.Shape[1], k = weight.Shape[1];
        var y = Tensor.Empty([b, c]);
        var h = history.Data; var xs = x.Data; var w = weight.Data; var ys = y.Data;
        for (int r = 0; r < b * c; r++)
        {
            var hr = h.Slice(r * (k - 1), k - 1); var wr = w.Slice(r % c * k, k);
            float s = wr[k - 1] * xs[r];
            for (int i = 0; i < k - 1; i++) s += wr[i] * hr[i];   // y = Σ_i w[c, i]·[history | x][i]
            ys[r] = s;
            if (k > 1) { hr[1..].CopyTo(hr); hr[k - 2] = xs[r]; }
        }
        return y;
    }

    /// <summary>[rows, cols] → [cols, rows].</summary>
    static float[] Transposed(ReadOnlySpan<float> a, int rows, int cols)
    {
        var t = new float[rows * cols];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) t[j * rows + r] = a[r * cols + j];
        return t;
    }

    /// <summary>[n, rows, cols] → [n, cols, rows].</summary>
    static float[] TransposedRows(ReadOnlySpan<float> a, int n, int rows, int cols)
    {
        var t = new float[n * rows * cols];
        for (int i = 0; i < n; i++) Transposed(a.Slice(i * rows * cols, rows * cols), rows, cols).CopyTo(t, i * rows * cols);
        return t;
    }

    /// <summary>For packed rows: the first position of each position's sequence ([B·T]), where the segment number
    /// changes from t−1 to t; null when there are no segments.</summary>
    internal static int[]? RunStarts(int[]? segments, int b, int t, string op)
    {
        if (segments is null) return null;
        if (segments.Length != b * t) throw new ArgumentException($"{op}: Segments has {segments.Length} numbers, expected B·T = {b * t}");
        var starts = new int[b * t];
        for (int r = 0; r < b; r++)
            for (int i = 0; i < t; i++)
                starts[r * t + i] = i > 0 && segments[r * t + i] == segments[r * t + i - 1] ? starts[r * t + i - 1] : i;
        return starts;
    }
}
