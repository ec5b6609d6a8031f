using Ril.Tensors.Kernels;

namespace Ril.Tensors;

/// <summary>
/// Frozen weights kept in bfloat16: half the memory of float32, computed in float32. Only the ops that read a weight
/// matrix (<see cref="Ops.MatMul"/> with a shared 2-D right operand, hence <see cref="Ops.Linear"/>, and
/// <see cref="Ops.Embedding"/>) accept such a tensor; products read it in place (few rows) or widen it as the GEMM packs
/// it, and an embedding widens the rows it looks up.
/// </summary>
public sealed partial class Tensor
{
    ushort[]? _bf16;

    /// <summary>True once <see cref="FreezeToBf16"/> has replaced the float32 values by bf16 ones.</summary>
    public bool IsBf16 => (Base ?? this)._bf16 is not null;

    /// <summary>The bf16 values (row-major, <see cref="Length"/> of them); only for a tensor frozen in bf16.</summary>
    internal ReadOnlySpan<ushort> Bf16Data => (Base ?? this)._bf16 is { } words
        ? words.AsSpan(Offset, Length)
        : throw new InvalidOperationException($"tensor {Name ?? ShapeOf.Format(Shape)} is not stored in bf16");

    /// <summary>
    /// Rounds the values to bf16 (nearest even), keeps those, and lets the float32 buffer go to the GC (not to the pool:
    /// the point is to give the memory back). The tensor stops training: it no longer requires grad and drops its
    /// gradient. Ops other than MatMul/Linear/Embedding refuse it; <see cref="ToArray"/> still reads it (widened).
    /// </summary>
    public Tensor FreezeToBf16()
    {
        if (IsBf16) return this;
        if (Base is not null) throw new InvalidOperationException($"FreezeToBf16: tensor {Name ?? ShapeOf.Format(Shape)} is a view; freeze the tensor it views");
        var words = new ushort[Length];
        BFloat16.Encode(Data, words);
        RequiresGrad = false;
        ReleaseGrad();
        _bf16 = words;
        _buffer = null;
        return this;
    }

    /// <summary>
    /// Takes <paramref name="words"/> (a checkpoint's BF16 values, exact; the tensor keeps the array) as this tensor's
    /// frozen bf16 storage, as <see cref="FreezeToBf16"/> would leave it, without ever writing float32 values: the float32
    /// buffer, never touched when the tensor is <see cref="Uninitialized"/>, goes to the GC.
    /// </summary>
    public Tensor LoadBf16(ushort[] words)
    {
        if (Base is not null) throw new InvalidOperationException($"LoadBf16: tensor {Name ?? ShapeOf.Format(Shape)} is a view");
        if (words.Length != Length) throw new ArgumentException($"LoadBf16: {words.Length} values for tensor {Name ?? ShapeOf.Format(Shape)} of {Length}");
        RequiresGrad = false;
        ReleaseGrad();
        _bf16 = words;
        _buffer = null;
        return this;
    }

    /// <summary>The bytes this tensor's values occupy: 2 per value in bf16, 4 in float32 (views own none).</summary>
    public long StorageBytes => Base is not null ? 0 : IsBf16 ? 2L * Length : 4L * Length;

    float[] Bf16ToArray()
    {
        var result = new float[Length];
        BFloat16.Decode(Bf16Data, result);
        return result;
    }

    Exception Unreadable() => IsBf16
        ? new InvalidOperationException($"tensor {Name ?? ShapeOf.Format(Shape)} is frozen in bf16: only MatMul (as a shared right operand), Linear and Embedding read it; use ToArray() for its values")
        : new ObjectDisposedException($"tensor {Name ?? ShapeOf.Format(Shape)}", "its TensorScope has ended; call TensorScope.Escape on it to keep it longer");
}
