using Ril.Tensors.Autograd;
using Ril.Tensors.Kernels;
using Ril.Tensors.Memory;

namespace Ril.Tensors;

public static partial class Ops
{
    /// <summary>
    /// Up to this many rows (a rollout's G × questions) a product with a bf16 Linear weight reads the weight in place
    /// (<see cref="Gemm.MultiplyBf16Transposed"/>); beyond, the packed GEMM widens B as it packs it
    /// (<see cref="Gemm.MultiplyBf16"/>), which wins once the product is compute-bound (`Ril.Bench fewrows --rows 64`
    /// times both at the limit).
    /// </summary>
    internal static int MaxInPlaceBf16Rows = Gemm.DotRowsMax;

    /// <summary>
    /// C = A·op(B) for a frozen bf16 B shared by every row of A ([rows, k], not transposed); B is never held in float32
    /// beyond the GEMM's packed panels. Backward gives A's gradient only: a bf16 tensor is frozen.
    /// </summary>
    static unsafe Tensor MatMulBf16(Tensor a, Tensor b, bool transA, bool transB, int[] outShape, int rows, int n, int k)
    {
        if (transA || b.Rank != 2)
            throw new NotSupportedException($"MatMul: a bf16 right operand ({b.Name ?? ShapeOf.Format(b.Shape)}) must be a 2-D matrix shared by an untransposed left operand");
        var c = Tensor.Empty(outShape);
        fixed (float* pa0 = a.Buffer, pc0 = c.Buffer)
        fixed (ushort* pw = b.Bf16Data)
        {
            float* pa = pa0 + a.Offset, pc = pc0 + c.Offset;
            if (transB && rows <= MaxInPlaceBf16Rows) Gemm.MultiplyBf16Transposed(rows, n, k, pa, k, pw, pc, n);   // decoding and rollouts: bf16 read in place
            else Gemm.MultiplyBf16(transB, rows, n, k, pa, k, pw, transB ? k : n, 0f, pc, n);
        }
        return Tape.Record(c, "MatMulBf16", [a], o =>
        {
            a.GradData();
            fixed (float* pg0 = o.Grad!.Buffer, pda0 = a.Grad!.Buffer)
            fixed (ushort* pw = b.Bf16Data)
                Gemm.MultiplyBf16(!transB, rows, k, n, pg0 + o.Grad.Offset, n, pw, transB ? k : n, 1f, pda0 + a.Grad.Offset, k);   // dA += dC·op(B)ᵀ
        });
    }
}
