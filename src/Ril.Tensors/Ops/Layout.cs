using Ril.Tensors.Autograd;
using Ril.Tensors.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Ril.Tensors;

/// <summary>Shape and layout ops: reshape (a view), transpose/permute, slice and concat (copies).</summary>
public static partial class Ops
{
    /// <summary>Same data, new shape (one dimension may be −1). Shares the buffer.</summary>
    public static Tensor Reshape(Tensor x, params int[] shape)
    {
        shape = (int[])shape.Clone();
        int infer = Array.IndexOf(shape, -1);
        if (infer >= 0)
        {
            int known = 1;
            for (int i = 0; i < shape.Length; i++) if (i != infer) known *= shape[i];
            shape[infer] = known == 0 ? 0 : x.Length / known;
        }
        if (ShapeOf.Count(shape) != x.Length)
            throw new ArgumentException($"Reshape: cannot view {ShapeOf.Format(x.Shape)} ({x.Length} elements) as {ShapeOf.Format(shape)}");
        var y = new Tensor(x.Buffer, x.Offset, shape, x.Base ?? x);
        return Tape.Record(y, "Reshape", [x], o => AddInto(x, o.Grad!));
    }

    /// <summary>Swaps two axes (a copy).</summary>
    public static Tensor Transpose(Tensor x, int axis0, int axis1)
    {
        int a = ShapeOf.Axis(axis0, x.Rank, "Transpose"), b = ShapeOf.Axis(axis1, x.Rank, "Transpose");
        var perm = Enumerable.Range(0, x.Rank).ToArray();
        (perm[a], perm[b]) = (perm[b], perm[a]);
        return Permute(x, perm);
    }

    /// <summary>Output axis i is input axis perm[i] (a copy, as torch's permute(...).contiguous()).</summary>
    public static Tensor Permute(Tensor x, params int[] perm)
    {
        if (perm.Length != x.Rank || perm.Distinct().Count() != x.Rank || perm.Any(p => p < 0 || p >= x.Rank))
            throw new ArgumentException($"Permute: {ShapeOf.Format(perm)} is not a permutation of the axes of {ShapeOf.Format(x.Shape)}");
        var outShape = perm.Select(p => x.Shape[p]).ToArray();
        var y = Tensor.Empty(outShape);
        PermuteCopy(x.Data, x.Shape, perm, y.Data, accumulate: false);
        var inverse = new int[perm.Length];
        for (int i = 0; i < perm.Length; i++) inverse[perm[i]] = i;
        return Tape.Record(y, "Permute", [x], o => PermuteCopy(o.Grad!.Data, outShape, inverse, x.GradData(), accumulate: true));
    }

    /// <summary>dst = permute(src) (or dst += when accumulating). When the last axis stays last, copies whole rows.</summary>
    static void PermuteCopy(ReadOnlySpan<float> src, int[] srcShape, int[] perm, Span<float> dst, bool accumulate)
    {
        int rank = srcShape.Length;
        var srcStrides = ShapeOf.Strides(srcShape);
        var outShape = perm.Select(p => srcShape[p]).ToArray();
        var stride = perm.Select(p => srcStrides[p]).ToArray();   // source stride of each output axis
        bool rowCopy = rank > 0 && perm[^1] == rank - 1;
        int inner = rowCopy ? outShape[^1] : 1;
        int outer = inner == 0 ? 0 : dst.Length / inner;
        int loopRank = rowCopy ? rank - 1 : rank;
        var idx = new int[loopRank];
        int srcOff = 0;
        for (int o = 0; o < outer; o++)
        {
            var d = dst.Slice(o * inner, inner);
            var s = src.Slice(srcOff, inner);
            if (accumulate) TP.Add(d, s, d); else s.CopyTo(d);
            for (int ax = loopRank - 1; ax >= 0; ax--)
            {
                srcOff += stride[ax];
                if (++idx[ax] < outShape[ax]) break;
                srcOff -= stride[ax] * outShape[ax];
                idx[ax] = 0;
            }
        }
    }

    /// <summary>Elements [start, start + length) along an axis (a copy).</summary>
    public static Tensor Slice(Tensor x, int axis, int start, int length)
    {
        int ax = ShapeOf.Axis(axis, x.Rank, "Slice");
        if (start < 0 || length < 0 || start + length > x.Shape[ax])
            throw new ArgumentException($"Slice: [{start}, {start + length}) is outside axis {axis} of {ShapeOf.Format(x.Shape)}");
        var (outer, n, inner) = ShapeOf.AroundAxis(x.Shape, ax);
        var outShape = (int[])x.Shape.Clone();
        outShape[ax] = length;
        var y = Tensor.Empty(outShape);
        int block = length * inner;
        for (int o = 0; o < outer; o++)
            x.Data.Slice((o * n + start) * inner, block).CopyTo(y.Data.Slice(o * block, block));
        return Tape.Record(y, "Slice", [x], r =>
        {
            var dx = x.GradData(); var g = r.Grad!.Data;
            for (int o = 0; o < outer; o++)
            {
                var d = dx.Slice((o * n + start) * inner, block);
                TP.Add(d, g.Slice(o * block, block), d);
            }
        });
    }

    /// <summary>Joins tensors along an axis; all other dims must agree.</summary>
    public static Tensor Concat(IReadOnlyList<Tensor> parts, int axis)
    {
        if (parts.Count == 0) throw new ArgumentException("Concat: no tensors");
        var first = parts[0];
        int ax = ShapeOf.Axis(axis, first.Rank, "Concat");
        foreach (var p in parts)
            if (p.Rank != first.Rank || Enumerable.Range(0, p.Rank).Any(i => i != ax && p.Shape[i] != first.Shape[i]))
                throw new ArgumentException($"Concat: shapes {ShapeOf.Format(first.Shape)} and {ShapeOf.Format(p.Shape)} differ outside axis {axis}");
        var outShape = (int[])first.Shape.Clone();
        outShape[ax] = parts.Sum(p => p.Shape[ax]);
        var (outer, total, inner) = ShapeOf.AroundAxis(outShape, ax);
        var y = Tensor.Empty(outShape);
        int at = 0;
        var offsets = new int[parts.Count];
        for (int i = 0; i < parts.Count; i++)
        {
            offsets[i] = at;
            int block = parts[i].Shape[ax] * inner;
            for (int o = 0; o < outer; o++)
                parts[i].Data.Slice(o * block, block).CopyTo(y.Data.Slice((o * total + at) * inner, block));
            at += parts[i].Shape[ax];
        }
        var inputs = parts.ToArray();
        return Tape.Record(y, "Concat", inputs, r =>
        {
            var g = r.Grad!.Data;
            for (int i = 0; i < inputs.Length; i++)
            {
                if (!inputs[i].RequiresGrad) continue;
                var dx = inputs[i].GradData();
                int block = inputs[i].Shape[ax] * inner;
                for (int o = 0; o < outer; o++)
                {
                    var d = dx.Slice(o * block, block);
                    TP.Add(d, g.Slice((o * total + offsets[i]) * inner, block), d);
                }
            }
        });
    }
}
