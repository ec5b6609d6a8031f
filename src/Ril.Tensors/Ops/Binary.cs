using Ril.Tensors.Autograd;
using Ril.Tensors.Kernels;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Ril.Tensors;

/// <summary>
/// Broadcasting binary ops (NumPy rules). The output is walked row by row over its last dimension; each operand's
/// row is either a full vector or one broadcast value, so every row is one TensorPrimitives call.
/// </summary>
public static partial class Ops
{
    /// <summary>How two operands map onto the rows of a broadcast output.</summary>
    sealed class Broadcasting
    {
        public readonly int[] OutShape;
        public readonly int Rows, Cols;
        public readonly int[] ARow, BRow;      // element offset of each output row in a and b
        public readonly bool AVec, BVec;       // operand's last dim is full (else one value per row)

        public Broadcasting(string op, Tensor a, Tensor b)
        {
            OutShape = ShapeOf.Broadcast(op, a.Shape, b.Shape);
            (Rows, Cols) = ShapeOf.Rows(OutShape);
            if (OutShape.Length == 0) { Rows = 1; Cols = 1; }
            AVec = a.Rank > 0 && a.Shape[^1] == Cols && Cols != 1;
            BVec = b.Rank > 0 && b.Shape[^1] == Cols && Cols != 1;
            ARow = RowOffsets(a.Shape, AVec);
            BRow = RowOffsets(b.Shape, BVec);
        }

        int[] RowOffsets(int[] shape, bool vec)
        {
            int rank = OutShape.Length;
            var strides = new int[rank];          // operand strides aligned to the output, 0 where broadcast
            var own = ShapeOf.Strides(shape);
            for (int i = 0; i < shape.Length; i++)
            {
                int o = i + rank - shape.Length;
                strides[o] = shape[i] == 1 ? 0 : own[i];
            }
            var offs = new int[Rows];
            if (rank <= 1) return offs;
            var idx = new int[rank - 1];
            for (int r = 0; r < Rows; r++)
            {
                int off = 0;
                for (int d = 0; d < rank - 1; d++) off += idx[d] * strides[d];
                offs[r] = off;
                for (int d = rank - 2; d >= 0; d--) { if (++idx[d] < OutShape[d]) break; idx[d] = 0; }
            }
            return offs;
        }

        /// <summary>True when both operands have the output's shape (the common, fully contiguous case).</summary>
        public static bool Same(Tensor a, Tensor b) => ShapeOf.Equal(a.Shape, b.Shape);
    }

    delegate void RowKernel(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y);
    delegate void RowScalarKernel(ReadOnlySpan<float> a, float b, Span<float> y);
    delegate void ScalarRowKernel(float a, ReadOnlySpan<float> b, Span<float> y);

    static Tensor BinaryForward(Broadcasting bc, Tensor a, Tensor b, RowKernel vv, RowScalarKernel vs, ScalarRowKernel sv, Func<float, float, float> ss)
    {
        var y = Tensor.Empty(bc.OutShape);
        if (Broadcasting.Same(a, b))
        {
            Chunks.For(y.Length, (s, n) => vv(a.Data.Slice(s, n), b.Data.Slice(s, n), y.Data.Slice(s, n)));
            return y;
        }
        int cols = bc.Cols;
        Chunks.Rows(bc.Rows, cols, (r0, r1) =>
        {
            var ad = a.Data; var bd = b.Data; var yd = y.Data;
            for (int r = r0; r < r1; r++)
            {
                var yr = yd.Slice(r * cols, cols);
                if (bc.AVec && bc.BVec) vv(ad.Slice(bc.ARow[r], cols), bd.Slice(bc.BRow[r], cols), yr);
                else if (bc.AVec) vs(ad.Slice(bc.ARow[r], cols), bd[bc.BRow[r]], yr);
                else if (bc.BVec) sv(ad[bc.ARow[r]], bd.Slice(bc.BRow[r], cols), yr);
                else yr.Fill(ss(ad[bc.ARow[r]], bd[bc.BRow[r]]));
            }
        });
        return y;
    }

    /// <summary>dst (an operand's gradient) += src (an output-shaped gradient contribution) summed over broadcast dims.</summary>
    static void AccumulateBroadcast(Broadcasting bc, Tensor operand, bool vec, int[] rowOffsets, ReadOnlySpan<float> src)
    {
        var dst = operand.GradData();
        int cols = bc.Cols;
        if (operand.Length == src.Length) { TP.Add(dst, src, dst); return; }
        // Serial: several output rows may land on one operand row, and a fixed order keeps results deterministic.
        for (int r = 0; r < bc.Rows; r++)
        {
            var sr = src.Slice(r * cols, cols);
            if (vec) { var dr = dst.Slice(rowOffsets[r], cols); TP.Add(dr, sr, dr); }
            else dst[rowOffsets[r]] += TP.Sum(sr);
        }
    }

    /// <summary>Materialises an operand broadcast to the output shape (for backward formulas that need it elementwise).</summary>
    static float[] Expand(Broadcasting bc, Tensor t, bool vec, int[] rowOffsets)
    {
        var e = Memory.BufferPool.Rent(bc.Rows * bc.Cols, clear: false);
        var d = t.Data;
        for (int r = 0; r < bc.Rows; r++)
        {
            var er = e.AsSpan(r * bc.Cols, bc.Cols);
            if (vec) d.Slice(rowOffsets[r], bc.Cols).CopyTo(er); else er.Fill(d[rowOffsets[r]]);
        }
        return e;
    }

    public static Tensor Add(Tensor a, Tensor b)
    {
        var bc = new Broadcasting("Add", a, b);
        var y = BinaryForward(bc, a, b, TP.Add, TP.Add, (x, v, r) => TP.Add(v, x, r), (x, v) => x + v);
        return Tape.Record(y, "Add", [a, b], o =>
        {
            foreach (var (t, vec, rows) in new[] { (a, bc.AVec, bc.ARow), (b, bc.BVec, bc.BRow) })
            {
                if (!t.RequiresGrad) continue;
                if (t.Length == o.Length) AddInto(t, o.Grad!);                               // the residual stream: no reduction
                else AccumulateBroadcast(bc, t, vec, rows, o.Grad!.Data);
            }
        });
    }

    public static Tensor Sub(Tensor a, Tensor b)
    {
        var bc = new Broadcasting("Sub", a, b);
        var y = BinaryForward(bc, a, b, TP.Subtract, TP.Subtract, TP.Subtract, (x, v) => x - v);
        return Tape.Record(y, "Sub", [a, b], o =>
        {
            var g = o.Grad!.Data;
            if (a.RequiresGrad) AccumulateBroadcast(bc, a, bc.AVec, bc.ARow, g);
            if (b.RequiresGrad)
            {
                var neg = Memory.BufferPool.Rent(g.Length, clear: false);
                TP.Negate(g, neg);
                AccumulateBroadcast(bc, b, bc.BVec, bc.BRow, neg);
                Memory.BufferPool.Return(neg);
            }
        });
    }

    public static Tensor Mul(Tensor a, Tensor b)
    {
        var bc = new Broadcasting("Mul", a, b);
        var y = BinaryForward(bc, a, b, TP.Multiply, TP.Multiply, (x, v, r) => TP.Multiply(v, x, r), (x, v) => x * v);
        return Tape.Record(y, "Mul", [a, b], o =>
        {
            var g = o.Grad!.Data;
            // d(ab)/da = b, d(ab)/db = a
            if (Broadcasting.Same(a, b))
            {
                if (a.RequiresGrad) MultiplyAddInto(a, o.Grad!, b);
                if (b.RequiresGrad) MultiplyAddInto(b, o.Grad!, a);
                return;
            }
            if (a.RequiresGrad) AccumulateProductOf(bc, a, bc.AVec, bc.ARow, g, b, bc.BVec, bc.BRow);
            if (b.RequiresGrad) AccumulateProductOf(bc, b, bc.BVec, bc.BRow, g, a, bc.AVec, bc.ARow);
        });
    }

    /// <summary>dst.grad += src, elementwise over equal sizes, in parallel chunks (results do not depend on the split).</summary>
    static void AddInto(Tensor dst, Tensor src)
    {
        dst.GradData();
        Chunks.For(dst.Length, (s, n) => { var d = dst.Grad!.Data.Slice(s, n); TP.Add(d, src.Data.Slice(s, n), d); });
    }

    /// <summary>dst.grad += g ⊙ other, all of one size, in parallel chunks.</summary>
    static void MultiplyAddInto(Tensor dst, Tensor g, Tensor other)
    {
        dst.GradData();
        Chunks.For(dst.Length, (s, n) => { var d = dst.Grad!.Data.Slice(s, n); TP.MultiplyAdd(g.Data.Slice(s, n), other.Data.Slice(s, n), d, d); });
    }

    /// <summary>operand.grad += reduce(g · other) where other is broadcast to the output.</summary>
    static void AccumulateProductOf(Broadcasting bc, Tensor operand, bool vec, int[] rows, ReadOnlySpan<float> g, Tensor other, bool otherVec, int[] otherRows)
    {
        var prod = Memory.BufferPool.Rent(g.Length, clear: false);
        var od = other.Data;
        int cols = bc.Cols;
        if (other.Length == g.Length) TP.Multiply(g, od, prod);
        else
            for (int r = 0; r < bc.Rows; r++)
            {
                var pr = prod.AsSpan(r * cols, cols);
                var gr = g.Slice(r * cols, cols);
                if (otherVec) TP.Multiply(gr, od.Slice(otherRows[r], cols), pr); else TP.Multiply(gr, od[otherRows[r]], pr);
            }
        AccumulateBroadcast(bc, operand, vec, rows, prod);
        Memory.BufferPool.Return(prod);
    }

    public static Tensor Div(Tensor a, Tensor b)
    {
        var bc = new Broadcasting("Div", a, b);
        var y = BinaryForward(bc, a, b, TP.Divide, TP.Divide, TP.Divide, (x, v) => x / v);
        return Tape.Record(y, "Div", [a, b], o =>
        {
            var g = o.Grad!.Data;
            var bFull = b.Length == g.Length ? null : Expand(bc, b, bc.BVec, bc.BRow);
            ReadOnlySpan<float> bd = bFull ?? b.Data;
            var t = Memory.BufferPool.Rent(g.Length, clear: false);
            TP.Divide(g, bd[..g.Length], t);                                   // d(a/b)/da = 1/b
            if (a.RequiresGrad) AccumulateBroadcast(bc, a, bc.AVec, bc.ARow, t);
            if (b.RequiresGrad)
            {
                TP.Multiply(t, o.Data, t);                                      // d(a/b)/db = −(a/b)/b
                TP.Negate(t, t);
                AccumulateBroadcast(bc, b, bc.BVec, bc.BRow, t);
            }
            Memory.BufferPool.Return(t);
            if (bFull is not null) Memory.BufferPool.Return(bFull);
        });
    }

    /// <summary>Elementwise minimum of equal shapes; the gradient goes to the smaller, to a on ties (in PPO's min(ρA, clip(ρ)A) a tie
    /// inside the clip range has the same derivative on both sides, so this equals torch's half-and-half split).</summary>
    public static Tensor Minimum(Tensor a, Tensor b) => SelectBinary("Minimum", a, b, (x, v) => x <= v);

    /// <summary>Elementwise maximum of equal shapes; ties send the gradient to a.</summary>
    public static Tensor Maximum(Tensor a, Tensor b) => SelectBinary("Maximum", a, b, (x, v) => x >= v);

    static Tensor SelectBinary(string op, Tensor a, Tensor b, Func<float, float, bool> takeA)
    {
        ShapeOf.RequireEqual(op, a, b);
        var y = Tensor.Empty((int[])a.Shape.Clone());
        var ad = a.Data; var bd = b.Data; var yd = y.Data;
        for (int i = 0; i < yd.Length; i++) yd[i] = takeA(ad[i], bd[i]) ? ad[i] : bd[i];
        return Tape.Record(y, op, [a, b], o =>
        {
            var g = o.Grad!.Data; var ad = a.Data; var bd = b.Data;
            var da = a.RequiresGrad ? a.GradData() : default;
            var db = b.RequiresGrad ? b.GradData() : default;
            for (int i = 0; i < g.Length; i++)
            {
                if (takeA(ad[i], bd[i])) { if (a.RequiresGrad) da[i] += g[i]; }
                else if (b.RequiresGrad) db[i] += g[i];
            }
        });
    }
}
