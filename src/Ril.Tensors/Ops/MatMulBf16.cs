using Ril.Tensors.Autograd;
using Ril.Tensors.Kernels;
using Ril.Tensors.Memory;

namespace Ril.Tensors;

public static partial class Ops
{
    /// <summary>Floats of a frozen bf16 matrix widened at once: 1 MiB, a block that stays in L2 while the GEMM reads it.</summary>
    const int Bf16BlockFloats = 1 << 18;

    /// <summary>
    /// Up to this many rows (a rollout's G × questions) a product with a bf16 Linear weight reads the weight in place
    /// (<see cref="Gemm.MultiplyBf16Transposed"/>); beyond, widened blocks feed the packed GEMM, which wins once the
    /// product is compute-bound. Measured with `Ril.Bench gemv` (docs/BENCHMARKS.md).
    /// </summary>
    internal static int MaxInPlaceBf16Rows = Gemm.DotRowsMax;

    /// <summary>
    /// C = A·op(B) for a frozen bf16 B shared by every row of A ([rows, k], not transposed): B's stored rows are widened to
    /// float32 a block at a time and each block multiplies as an ordinary GEMM, so B is never held in float32 whole.
    /// B stored [n, k] (transposed, a Linear weight) gives C's columns block by block; B stored [k, n] sums blocks of k.
    /// Backward gives A's gradient only: a bf16 tensor is frozen.
    /// </summary>
    static unsafe Tensor MatMulBf16(Tensor a, Tensor b, bool transA, bool transB, int[] outShape, int rows, int n, int k)
    {
        if (transA || b.Rank != 2)
            throw new NotSupportedException($"MatMul: a bf16 right operand ({b.Name ?? ShapeOf.Format(b.Shape)}) must be a 2-D matrix shared by an untransposed left operand");
        var c = Tensor.Empty(outShape);
        if (transB && rows <= MaxInPlaceBf16Rows)   // decoding and rollouts: bf16 read in place, spread over the threads
            fixed (float* pa = a.Buffer, pc = c.Buffer)
            fixed (ushort* pw = b.Bf16Data)
                Gemm.MultiplyBf16Transposed(rows, n, k, pa + a.Offset, k, pw, pc + c.Offset, n);
        else ForEachWidenedBlock(b, (block, first, count) =>
        {
            fixed (float* pa0 = a.Buffer, pc0 = c.Buffer)
            {
                float* pa = pa0 + a.Offset, pc = pc0 + c.Offset;
                if (transB) Gemm.Multiply(false, true, rows, count, k, 1f, pa, k, block, k, 0f, pc + first, n);                       // C[:, first..] = A·blockᵀ
                else Gemm.Multiply(false, false, rows, n, count, 1f, pa + first, k, block, n, first == 0 ? 0f : 1f, pc, n);        // C += A[:, first..]·block
            }
        });
        return Tape.Record(c, "MatMulBf16", [a], o => ForEachWidenedBlock(b, (block, first, count) =>
        {
            a.GradData();
            fixed (float* pg0 = o.Grad!.Buffer, pda0 = a.Grad!.Buffer)
            {
                float* pg = pg0 + o.Grad.Offset, pda = pda0 + a.Grad.Offset;
                if (transB) Gemm.Multiply(false, false, rows, k, count, 1f, pg + first, n, block, k, 1f, pda, k);   // dA += dC[:, first..]·block
                else Gemm.Multiply(false, true, rows, count, n, 1f, pg, n, block, n, 1f, pda + first, k);           // dA[:, first..] += dC·blockᵀ
            }
        }));
    }

    /// <summary>Calls <paramref name="use"/> with consecutive blocks of a bf16 matrix's rows widened to float32 (pointer, first row, row count).</summary>
    static unsafe void ForEachWidenedBlock(Tensor matrix, WidenedBlockAction use)
    {
        int rowCount = matrix.Shape[0], width = matrix.Shape[1];
        int blockRows = Math.Clamp(Bf16BlockFloats / Math.Max(1, width), 1, Math.Max(1, rowCount));
        var scratch = BufferPool.Rent(blockRows * width, clear: false);
        try
        {
            fixed (float* block = scratch)
            fixed (ushort* words = matrix.Bf16Data)
                for (int first = 0; first < rowCount; first += blockRows)
                {
                    int count = Math.Min(blockRows, rowCount - first);
                    nint src = (nint)(words + (long)first * width), dst = (nint)block;
                    // Widened by every thread: the GEMM on the block waits for it.
                    WorkerPool.Shared.ForRange(count * width, 1 << 15, (start, end) =>
                        BFloat16.Decode(new ReadOnlySpan<ushort>((ushort*)src + start, end - start), new Span<float>((float*)dst + start, end - start)));
                    use(block, first, count);
                }
        }
        finally { BufferPool.Return(scratch); }
    }

    unsafe delegate void WidenedBlockAction(float* block, int first, int count);
}
