using System.Runtime.CompilerServices;
using Ril.Tensors.Autograd;
using Ril.Tensors.Memory;

namespace Ril.Tensors;

/// <summary>
/// A float32, row-major, contiguous tensor of any rank, with reverse-mode autograd.
/// Its buffer comes from <see cref="BufferPool"/>; inside a <see cref="TensorScope"/> the buffer goes back to the
/// pool when the scope ends, so a training step allocates almost nothing after warm-up.
/// </summary>
public sealed partial class Tensor
{
    float[]? _buffer;
    internal readonly int Offset;
    /// <summary>The tensor whose buffer this one shares (reshape views), or null if it owns its buffer.</summary>
    internal readonly Tensor? Base;

    public int[] Shape { get; }
    public int Length { get; }
    public int Rank => Shape.Length;

    /// <summary>Set on parameters (leaves); propagated to results of ops on them unless in a <see cref="NoGrad"/> scope.</summary>
    public bool RequiresGrad { get; set; }
    /// <summary>Accumulated gradient (same shape). Kept for leaves; released after use for intermediate results.</summary>
    public Tensor? Grad { get; internal set; }
    /// <summary>The op that produced this tensor, for backward; null for leaves and results computed without grad.</summary>
    internal Node? Node { get; set; }
    public string? Name { get; set; }

    internal Tensor(float[] buffer, int offset, int[] shape, Tensor? baseTensor = null)
    {
        Shape = shape;
        Length = ShapeOf.Count(shape);
        if (offset + Length > buffer.Length)
            throw new ArgumentException($"Tensor: buffer of {buffer.Length} floats cannot hold shape {ShapeOf.Format(shape)} at offset {offset}");
        _buffer = buffer;
        Offset = offset;
        Base = baseTensor;
        if (baseTensor is null) TensorScope.Register(this);
    }

    /// <summary>The backing array; throws if the tensor's scope has ended.</summary>
    internal float[] Buffer
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => (Base is null ? _buffer : Base.Buffer) ?? throw Unreadable();
    }

    public Span<float> Data => Buffer.AsSpan(Offset, Length);
    public bool IsLeaf => Node is null;

    /// <summary>Gives the buffer back to the pool (called by the owning scope).</summary>
    internal void Release()
    {
        if (Base is not null || _buffer is null) return;
        BufferPool.Return(_buffer);
        _buffer = null;
    }

    // ---- creation -------------------------------------------------------------------------------

    /// <summary>A new tensor of the given shape; contents are zero when <paramref name="clear"/>, else unspecified.</summary>
    internal static Tensor Empty(int[] shape, bool clear = false)
        => new(BufferPool.Rent(ShapeOf.Count(shape), clear), 0, shape);

    public static Tensor Zeros(params int[] shape) => Empty((int[])shape.Clone(), clear: true);

    /// <summary>A tensor whose values are whatever its memory held, for one that a checkpoint fills before any use
    /// (a fresh large buffer is not even touched, so it costs no resident memory until written).</summary>
    public static Tensor Uninitialized(params int[] shape) => Empty((int[])shape.Clone());

    public static Tensor Full(float value, params int[] shape)
    {
        var t = Empty((int[])shape.Clone());
        t.Data.Fill(value);
        return t;
    }

    public static Tensor Ones(params int[] shape) => Full(1f, shape);
    public static Tensor Scalar(float value) => Full(value);

    /// <summary>Copies <paramref name="values"/> into a new tensor of the given shape.</summary>
    public static Tensor FromArray(ReadOnlySpan<float> values, params int[] shape)
    {
        int n = ShapeOf.Count(shape);
        if (values.Length != n)
            throw new ArgumentException($"FromArray: {values.Length} values cannot fill shape {ShapeOf.Format(shape)} ({n} elements)");
        var t = Empty((int[])shape.Clone());
        values.CopyTo(t.Data);
        return t;
    }

    /// <summary>Normal(0, std²) entries drawn from <paramref name="rng"/>.</summary>
    public static Tensor Randn(Rng rng, float std, params int[] shape)
    {
        var t = Empty((int[])shape.Clone());
        rng.FillNormal(t.Data, std);
        return t;
    }

    /// <summary>Uniform entries in [low, high) drawn from <paramref name="rng"/>.</summary>
    public static Tensor Uniform(Rng rng, float low, float high, params int[] shape)
    {
        var t = Empty((int[])shape.Clone());
        rng.FillUniform(t.Data, low, high);
        return t;
    }

    /// <summary>A trainable leaf.</summary>
    public Tensor AsParameter(string? name = null)
    {
        RequiresGrad = true;
        Name = name ?? Name;
        return this;
    }

    // ---- reading --------------------------------------------------------------------------------

    public float Item()
    {
        if (Length != 1) throw new InvalidOperationException($"Item: tensor of shape {ShapeOf.Format(Shape)} has {Length} elements, not 1");
        return Data[0];
    }

    public float[] ToArray() => IsBf16 ? Bf16ToArray() : Data.ToArray();

    public int Dim(int axis) => Shape[ShapeOf.Axis(axis, Rank, "Dim")];

    [IndexerName("Element")]
    public float this[params int[] index]
    {
        get => Data[ShapeOf.FlatIndex(Shape, index)];
        set => Data[ShapeOf.FlatIndex(Shape, index)] = value;
    }

    /// <summary>A copy that shares no history: the result is a leaf with no grad.</summary>
    public Tensor Detach()
    {
        var t = Empty((int[])Shape.Clone());
        Data.CopyTo(t.Data);
        return t;
    }

    // ---- autograd -------------------------------------------------------------------------------

    /// <summary>Reverse-mode backward from this tensor. A scalar seeds with 1; otherwise pass <paramref name="seed"/>.</summary>
    public void Backward(Tensor? seed = null) => Tape.Backward(this, seed);

    /// <summary>The gradient buffer, created zero-filled on first use. Backward kernels accumulate into it.</summary>
    internal Span<float> GradData()
    {
        if (Grad is null)
            lock (this)   // backward kernels run on several threads
                if (Grad is null)
                    // Gradients are never scope-owned: a leaf's lives across steps; an intermediate's is released by the tape.
                    using (TensorScope.Suspend()) Grad = Empty((int[])Shape.Clone(), clear: true);
        return Grad.Data;
    }

    /// <summary>Sets the gradient to zero in place (keeps the buffer for the next step).</summary>
    public void ZeroGrad() => Grad?.Data.Clear();

    internal void ReleaseGrad()
    {
        Grad?.Release();
        Grad = null;
    }

    public override string ToString()
    {
        var d = IsBf16 ? Bf16ToArray()[..Math.Min(Length, 8)] : Buffer.AsSpan(Offset, Math.Min(Length, 8)).ToArray();
        return $"Tensor{ShapeOf.Format(Shape)} [{string.Join(", ", d.Select(v => v.ToString("G5")))}{(Length > 8 ? ", …" : "")}]";
    }

    // ---- operators (see Ops for the full list) ---------------------------------------------------
    public static Tensor operator +(Tensor a, Tensor b) => Ops.Add(a, b);
    public static Tensor operator -(Tensor a, Tensor b) => Ops.Sub(a, b);
    public static Tensor operator *(Tensor a, Tensor b) => Ops.Mul(a, b);
    public static Tensor operator /(Tensor a, Tensor b) => Ops.Div(a, b);
    public static Tensor operator +(Tensor a, float s) => Ops.AddScalar(a, s);
    public static Tensor operator +(float s, Tensor a) => Ops.AddScalar(a, s);
    public static Tensor operator -(Tensor a, float s) => Ops.AddScalar(a, -s);
    public static Tensor operator -(float s, Tensor a) => Ops.AddScalar(Ops.MulScalar(a, -1f), s);
    public static Tensor operator *(Tensor a, float s) => Ops.MulScalar(a, s);
    public static Tensor operator *(float s, Tensor a) => Ops.MulScalar(a, s);
    public static Tensor operator /(Tensor a, float s) => Ops.MulScalar(a, 1f / s);
    public static Tensor operator -(Tensor a) => Ops.MulScalar(a, -1f);
}
