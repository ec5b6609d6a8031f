namespace Ril.Tensors;

/// <summary>Shape arithmetic and the shape checks every op uses (their messages name the op and the shapes).</summary>
public static class ShapeOf
{
    public static int Count(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative dimension in shape {Format(shape)}");
            n *= d;
        }
        if (n > int.MaxValue) throw new ArgumentException($"shape {Format(shape)} has more than 2^31 elements");
        return (int)n;
    }

    public static string Format(ReadOnlySpan<int> shape) => "[" + string.Join(", ", shape.ToArray()) + "]";

    /// <summary>Normalises a possibly negative axis; <paramref name="op"/> names the caller in the error.</summary>
    public static int Axis(int axis, int rank, string op)
    {
        int a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw new ArgumentException($"{op}: axis {axis} is out of range for rank {rank}");
        return a;
    }

    public static bool Equal(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);

    public static void RequireEqual(string op, Tensor a, Tensor b)
    {
        if (!Equal(a.Shape, b.Shape))
            throw new ArgumentException($"{op}: shapes {Format(a.Shape)} and {Format(b.Shape)} must be equal");
    }

    public static void RequireRank(string op, Tensor t, int minRank, string what = "input")
    {
        if (t.Rank < minRank)
            throw new ArgumentException($"{op}: {what} of shape {Format(t.Shape)} needs rank ≥ {minRank}");
    }

    /// <summary>NumPy broadcasting of two shapes; throws naming the op and both shapes when incompatible.</summary>
    public static int[] Broadcast(string op, int[] a, int[] b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var r = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i - (rank - a.Length) >= 0 ? a[i - (rank - a.Length)] : 1;
            int db = i - (rank - b.Length) >= 0 ? b[i - (rank - b.Length)] : 1;
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"{op}: shapes {Format(a)} and {Format(b)} cannot be broadcast together");
            r[i] = da == 1 ? db : da;
        }
        return r;
    }

    /// <summary>Row-major strides.</summary>
    public static int[] Strides(ReadOnlySpan<int> shape)
    {
        var s = new int[shape.Length];
        int acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    public static int FlatIndex(int[] shape, int[] index)
    {
        if (index.Length != shape.Length)
            throw new ArgumentException($"index of rank {index.Length} for a tensor of shape {Format(shape)}");
        int flat = 0;
        for (int i = 0; i < shape.Length; i++)
        {
            if ((uint)index[i] >= (uint)shape[i])
                throw new IndexOutOfRangeException($"index {Format(index)} is outside shape {Format(shape)}");
            flat = flat * shape[i] + index[i];
        }
        return flat;
    }

    /// <summary>Product of dims before <paramref name="axis"/>, the dim itself, product after: views the tensor as [outer, n, inner].</summary>
    public static (int outer, int n, int inner) AroundAxis(int[] shape, int axis)
    {
        int outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= shape[i];
        for (int i = axis + 1; i < shape.Length; i++) inner *= shape[i];
        return (outer, shape[axis], inner);
    }

    /// <summary>Rows × last dim: how row-wise ops (softmax, norms) see a tensor.</summary>
    public static (int rows, int cols) Rows(int[] shape)
    {
        int cols = shape.Length == 0 ? 1 : shape[^1];
        return (cols == 0 ? 0 : Count(shape) / cols, cols);
    }
}
