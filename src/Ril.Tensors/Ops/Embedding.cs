using System.Runtime.Intrinsics;
using Ril.Tensors.Autograd;
using Ril.Tensors.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Ril.Tensors;

public static partial class Ops
{
    /// <summary>Rows of <paramref name="weight"/> [V, d] for each id: output [ids.Length, d]. Backward scatter-adds into the rows.</summary>
    public static Tensor Embedding(Tensor weight, ReadOnlySpan<int> ids)
    {
        if (weight.Rank != 2) throw new ArgumentException($"Embedding: weight must be [vocab, dim], got {ShapeOf.Format(weight.Shape)}");
        int vocab = weight.Shape[0], d = weight.Shape[1];
        var idx = ids.ToArray();
        var y = Tensor.Empty([idx.Length, d]);
        for (int i = 0; i < idx.Length; i++)
        {
            if ((uint)idx[i] >= (uint)vocab) throw new ArgumentException($"Embedding: id {idx[i]} at position {i} is outside the vocabulary of {vocab}");
            if (weight.IsBf16) Kernels.BFloat16.Decode(weight.Bf16Data.Slice(idx[i] * d, d), y.Data.Slice(i * d, d));   // a frozen table
            else weight.Data.Slice(idx[i] * d, d).CopyTo(y.Data.Slice(i * d, d));
        }
        return Tape.Record(y, "Embedding", [weight], o =>
        {
            var dw = weight.GradData(); var g = o.Grad!.Data;
            for (int i = 0; i < idx.Length; i++)
            {
                var row = dw.Slice(idx[i] * d, d);
                TP.Add(row, g.Slice(i * d, d), row);
            }
        });
    }

    /// <summary>
    /// x [N, d] with the rows listed in <paramref name="rows"/> replaced, in order, by the rows of <paramref name="values"/>
    /// [rows.Length, d] (a VLM's image features taking the places of image placeholder tokens).
    /// </summary>
    public static Tensor ReplaceRows(Tensor x, ReadOnlySpan<int> rows, Tensor values)
    {
        if (x.Rank != 2 || values.Rank != 2 || values.Shape[1] != x.Shape[1] || values.Shape[0] != rows.Length)
            throw new ArgumentException($"ReplaceRows: x {ShapeOf.Format(x.Shape)} and values {ShapeOf.Format(values.Shape)} must be [N, d] and [{rows.Length}, d]");
        int n = x.Shape[0], d = x.Shape[1];
        var idx = rows.ToArray();
        var replaced = new bool[n];
        foreach (var r in idx)
        {
            if ((uint)r >= (uint)n) throw new ArgumentException($"ReplaceRows: row {r} is outside [0, {n})");
            if (replaced[r]) throw new ArgumentException($"ReplaceRows: row {r} is listed twice");
            replaced[r] = true;
        }
        var y = Tensor.Empty([n, d]);
        x.Data.CopyTo(y.Data);
        for (int i = 0; i < idx.Length; i++) values.Data.Slice(i * d, d).CopyTo(y.Data.Slice(idx[i] * d, d));
        return Tape.Record(y, "ReplaceRows", [x, values], o =>
        {
            var g = o.Grad!.Data;
            if (x.RequiresGrad)
            {
                var dx = x.GradData();
                for (int r = 0; r < n; r++) if (!replaced[r]) { var dr = dx.Slice(r * d, d); TP.Add(dr, g.Slice(r * d, d), dr); }
            }
            if (values.RequiresGrad)
            {
                var dv = values.GradData();
                for (int i = 0; i < idx.Length; i++) { var dr = dv.Slice(i * d, d); TP.Add(dr, g.Slice(idx[i] * d, d), dr); }
            }
        });
    }

    /// <summary>
    /// Rotary position embedding in the Hugging Face Llama/Qwen2 layout (rotate_half: the first and second halves of the
    /// head dim are the pair), on x [B, T, H, D] with one position per (b, t): positions.Length = B·T.
    /// y₁ = x₁cos − x₂sin, y₂ = x₂cos + x₁sin with angle = pos · θ^(−2i/D), computed in float32 as transformers does.
    /// </summary>
    public static Tensor Rope(Tensor x, ReadOnlySpan<int> positions, float theta)
    {
        if (x.Rank != 4 || x.Shape[3] % 2 != 0) throw new ArgumentException($"Rope: x must be [B, T, H, D] with D even, got {ShapeOf.Format(x.Shape)}");
        int b = x.Shape[0], t = x.Shape[1], h = x.Shape[2], d = x.Shape[3], half = d / 2;
        if (positions.Length != b * t) throw new ArgumentException($"Rope: {positions.Length} positions for B·T = {b * t}");
        var (cos, sin) = RopeTables(positions, half, d, theta);
        var y = Tensor.Empty((int[])x.Shape.Clone());
        RopeRotate(x.Data, y.Data, cos, sin, b * t, h, d, sign: 1f, accumulate: false);
        return Tape.Record(y, "Rope", [x], o => RopeRotate(o.Grad!.Data, x.GradData(), cos, sin, b * t, h, d, sign: -1f, accumulate: true));
    }

    /// <summary>
    /// Rotary position embedding with angles given per row and frequency: <paramref name="tables"/> holds cos and sin
    /// [B·T, D/2] (multimodal RoPE's frequencies drawn from different position planes, a vision tower's row and column
    /// angles). Same rotate_half layout as <see cref="Rope(Tensor, ReadOnlySpan{int}, float)"/>.
    /// </summary>
    public static Tensor Rope(Tensor x, RotaryTables tables)
    {
        if (x.Rank != 4 || x.Shape[3] % 2 != 0) throw new ArgumentException($"Rope: x must be [B, T, H, D] with D even, got {ShapeOf.Format(x.Shape)}");
        int b = x.Shape[0], t = x.Shape[1], h = x.Shape[2], d = x.Shape[3];
        if (tables.Cos.Length != b * t * (d / 2) || tables.Sin.Length != tables.Cos.Length)
            throw new ArgumentException($"Rope: tables of {tables.Cos.Length} and {tables.Sin.Length} values for B·T·D/2 = {b * t * (d / 2)}");
        var y = Tensor.Empty((int[])x.Shape.Clone());
        RopeRotate(x.Data, y.Data, tables.Cos, tables.Sin, b * t, h, d, sign: 1f, accumulate: false);
        return Tape.Record(y, "Rope", [x], o => RopeRotate(o.Grad!.Data, x.GradData(), tables.Cos, tables.Sin, b * t, h, d, sign: -1f, accumulate: true));
    }

    /// <summary>The last tables built on this thread: every layer's q and k use the same positions, so they are built once per forward.</summary>
    [ThreadStatic] static (int[] positions, int d, float theta, float[] cos, float[] sin)? _ropeTables;

    /// <summary>cos and sin per (row, i), i &lt; D/2.</summary>
    internal static (float[] cos, float[] sin) RopeTables(ReadOnlySpan<int> positions, int half, int d, float theta)
    {
        if (_ropeTables is { } c && c.d == d && c.theta == theta && positions.SequenceEqual(c.positions)) return (c.cos, c.sin);
        var invFreq = new float[half];
        for (int i = 0; i < half; i++) invFreq[i] = 1f / MathF.Pow(theta, 2f * i / d);
        var cos = new float[positions.Length * half];
        var sin = new float[positions.Length * half];
        for (int r = 0; r < positions.Length; r++)
            for (int i = 0; i < half; i++)
            {
                float angle = positions[r] * invFreq[i];
                cos[r * half + i] = MathF.Cos(angle);
                sin[r * half + i] = MathF.Sin(angle);
            }
        _ropeTables = (positions.ToArray(), d, theta, cos, sin);
        return (cos, sin);
    }

    /// <summary>
    /// Rotation by +angle (sign 1) or its transpose, −angle (sign −1, the backward): rows spread over the worker pool,
    /// eight frequencies at a time. Each element is computed as the scalar tail computes it (no fused multiply-add), so
    /// neither the vector width nor the thread count changes a result.
    /// </summary>
    internal static unsafe void RopeRotate(ReadOnlySpan<float> src, Span<float> dst, float[] cos, float[] sin, int rows, int heads, int d, float sign, bool accumulate)
    {
        int minRows = Math.Max(1, 16384 / (heads * d));
        fixed (float* ps = src, pd = dst)
            if (rows < 2 * minRows)   // a decoding step's few rows: on this thread, with nothing allocated
                for (int r = 0; r < rows; r++) RopeRow(ps, pd, cos, sin, r, heads, d / 2, sign, accumulate);
            else RopeRows((nint)ps, (nint)pd, cos, sin, rows, minRows, heads, d / 2, sign, accumulate);
    }

    static unsafe void RopeRows(nint src, nint dst, float[] cos, float[] sin, int rows, int minRows, int heads, int half, float sign, bool accumulate) =>
        WorkerPool.Shared.ForRange(rows, minRows, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++) RopeRow((float*)src, (float*)dst, cos, sin, r, heads, half, sign, accumulate);
        });

    static unsafe void RopeRow(float* src, float* dst, float[] cos, float[] sin, int r, int heads, int half, float sign, bool accumulate)
    {
        fixed (float* c = &cos[r * half], s = &sin[r * half])
            for (int hh = 0; hh < heads; hh++)
            {
                float* x = src + (long)(r * heads + hh) * 2 * half, y = dst + (long)(r * heads + hh) * 2 * half;
                int i = 0;
                if (Vector256.IsHardwareAccelerated)
                    for (; i + 8 <= half; i += 8)
                    {
                        var (ci, si) = (Vector256.Load(c + i), Vector256.Load(s + i) * sign);
                        var (x1, x2) = (Vector256.Load(x + i), Vector256.Load(x + half + i));
                        Vector256<float> y1 = x1 * ci - x2 * si, y2 = x2 * ci + x1 * si;
                        if (accumulate) { y1 = Vector256.Load(y + i) + y1; y2 = Vector256.Load(y + half + i) + y2; }
                        y1.Store(y + i);
                        y2.Store(y + half + i);
                    }
                for (; i < half; i++)
                {
                    float x1 = x[i], x2 = x[half + i], si = sign * s[i];
                    float y1 = x1 * c[i] - x2 * si, y2 = x2 * c[i] + x1 * si;
                    if (accumulate) { y[i] += y1; y[half + i] += y2; }
                    else { y[i] = y1; y[half + i] = y2; }
                }
            }
    }
}

/// <summary>cos and sin of rotary angles, [rows, D/2] each, row-major: what <see cref="Ops.Rope(Tensor, RotaryTables)"/> rotates by.</summary>
public sealed record RotaryTables(float[] Cos, float[] Sin);
