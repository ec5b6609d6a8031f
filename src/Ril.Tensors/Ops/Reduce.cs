using Ril.Tensors.Autograd;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Ril.Tensors;

/// <summary>Reductions along one axis (viewed as [outer, n, inner]) and over all elements.</summary>
public static partial class Ops
{
    static int[] ReducedShape(int[] shape, int axis, bool keepDim)
    {
        if (keepDim) { var s = (int[])shape.Clone(); s[axis] = 1; return s; }
        return shape.Where((_, i) => i != axis).ToArray();
    }

    public static Tensor Sum(Tensor x, int axis, bool keepDim = false) => SumScaled("Sum", x, axis, keepDim, 1f);

    public static Tensor Mean(Tensor x, int axis, bool keepDim = false)
    {
        int a = ShapeOf.Axis(axis, x.Rank, "Mean");
        return SumScaled("Mean", x, a, keepDim, 1f / Math.Max(1, x.Shape[a]));
    }

    static Tensor SumScaled(string op, Tensor x, int axis, bool keepDim, float scale)
    {
        int ax = ShapeOf.Axis(axis, x.Rank, op);
        var (outer, n, inner) = ShapeOf.AroundAxis(x.Shape, ax);
        var y = Tensor.Empty(ReducedShape(x.Shape, ax, keepDim), clear: true);
        var xd = x.Data; var yd = y.Data;
        for (int o = 0; o < outer; o++)
        {
            var yr = yd.Slice(o * inner, inner);
            if (inner == 1) yr[0] = TP.Sum(xd.Slice(o * n, n)) * scale;
            else
            {
                for (int j = 0; j < n; j++) TP.Add(yr, xd.Slice((o * n + j) * inner, inner), yr);
                if (scale != 1f) TP.Multiply(yr, scale, yr);
            }
        }
        return Tape.Record(y, op, [x], r =>
        {
            var g = r.Grad!.Data; var dx = x.GradData();
            for (int o = 0; o < outer; o++)
            {
                var gr = g.Slice(o * inner, inner);
                for (int j = 0; j < n; j++)
                {
                    var dr = dx.Slice((o * n + j) * inner, inner);
                    if (inner == 1) dr[0] += gr[0] * scale; else TP.MultiplyAdd(gr, scale, dr, dr);
                }
            }
        });
    }

    /// <summary>Maximum along an axis; the gradient goes to the first maximal element.</summary>
    public static Tensor Max(Tensor x, int axis, bool keepDim = false)
    {
        int ax = ShapeOf.Axis(axis, x.Rank, "Max");
        var (outer, n, inner) = ShapeOf.AroundAxis(x.Shape, ax);
        if (n == 0) throw new ArgumentException($"Max: axis {axis} of shape {ShapeOf.Format(x.Shape)} is empty");
        var y = Tensor.Empty(ReducedShape(x.Shape, ax, keepDim));
        var arg = new int[outer * inner];
        var xd = x.Data; var yd = y.Data;
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                int best = 0; float bv = xd[o * n * inner + i];
                for (int j = 1; j < n; j++)
                {
                    float v = xd[(o * n + j) * inner + i];
                    if (v > bv) { bv = v; best = j; }
                }
                yd[o * inner + i] = bv;
                arg[o * inner + i] = best;
            }
        return Tape.Record(y, "Max", [x], r =>
        {
            var g = r.Grad!.Data; var dx = x.GradData();
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < inner; i++)
                    dx[(o * n + arg[o * inner + i]) * inner + i] += g[o * inner + i];
        });
    }

    /// <summary>Sum of all elements, as a scalar tensor of shape [].</summary>
    public static Tensor SumAll(Tensor x) => ScaledTotal("SumAll", x, 1f);

    public static Tensor MeanAll(Tensor x) => ScaledTotal("MeanAll", x, 1f / Math.Max(1, x.Length));

    static Tensor ScaledTotal(string op, Tensor x, float scale)
    {
        var y = Tensor.Empty([]);
        y.Data[0] = (float)SumDouble(x.Data) * scale;
        return Tape.Record(y, op, [x], r =>
        {
            float g = r.Grad!.Data[0] * scale;
            var dx = x.GradData();
            TP.Add(dx, g, dx);
        });
    }

    /// <summary>Sum in double precision by blocks (losses over many tokens should not lose digits).</summary>
    internal static double SumDouble(ReadOnlySpan<float> x)
    {
        double s = 0;
        for (int i = 0; i < x.Length; i += 1024) s += TP.Sum(x.Slice(i, Math.Min(1024, x.Length - i)));
        return s;
    }
}
