using Ril.Tensors.Autograd;
using Ril.Tensors.Kernels;

namespace Ril.Tensors;

public static partial class Ops
{
    /// <summary>
    /// Batched matrix product C = op(A)·op(B). A is [..., M, K] ([..., K, M] when <paramref name="transA"/>);
    /// B is [..., K, N] with A's batch dims, or a 2-D matrix shared by every batch item ([N, K] when
    /// <paramref name="transB"/>). Backward uses the transposed GEMM variants, never a materialised transpose.
    /// </summary>
    public static unsafe Tensor MatMul(Tensor a, Tensor b, bool transA = false, bool transB = false)
    {
        ShapeOf.RequireRank("MatMul", a, 2, "A");
        ShapeOf.RequireRank("MatMul", b, 2, "B");
        int m = transA ? a.Shape[^1] : a.Shape[^2], ka = transA ? a.Shape[^2] : a.Shape[^1];
        int kb = transB ? b.Shape[^1] : b.Shape[^2], n = transB ? b.Shape[^2] : b.Shape[^1];
        bool shared = b.Rank == 2;
        if (ka != kb || (!shared && !ShapeOf.Equal(a.Shape.AsSpan(0, a.Rank - 2), b.Shape.AsSpan(0, b.Rank - 2))))
            throw new ArgumentException($"MatMul{(transA ? "(Aᵀ)" : "")}{(transB ? "(Bᵀ)" : "")}: shapes {ShapeOf.Format(a.Shape)} and {ShapeOf.Format(b.Shape)} do not multiply");
        int k = ka;
        int batch = a.Length / Math.Max(1, m * k);
        if (m * k == 0) batch = ShapeOf.Count(a.Shape.AsSpan(0, a.Rank - 2));
        var outShape = a.Shape[..^2].Concat(new[] { m, n }).ToArray();
        if (b.IsBf16) return MatMulBf16(a, b, transA, transB, outShape, batch * m, n, k);
        var c = Tensor.Empty(outShape);

        // A plain (not transposed) A against a shared B is one tall GEMM: batch·M rows.
        bool tall = shared && !transA;
        int lda = a.Shape[^1], ldb = b.Shape[^1];
        fixed (float* pa0 = a.Buffer, pb0 = b.Buffer, pc0 = c.Buffer)
        {
            float* pa = pa0 + a.Offset, pb = pb0 + b.Offset, pc = pc0 + c.Offset;
            if (tall) Gemm.Multiply(false, transB, batch * m, n, k, 1f, pa, lda, pb, ldb, 0f, pc, n);
            else Gemm.MultiplyBatched(transA, transB, m, n, k, 1f, pa, lda, (long)m * k, pb, ldb, shared ? 0 : (long)k * n, 0f, pc, n, (long)m * n, batch);
        }

        return Tape.Record(c, "MatMul", [a, b], o =>
        {
            fixed (float* pa0 = a.Buffer, pb0 = b.Buffer, pg0 = o.Grad!.Buffer)
            {
                float* pa = pa0 + a.Offset, pb = pb0 + b.Offset, pg = pg0 + o.Grad.Offset;
                if (a.RequiresGrad)
                {
                    a.GradData();
                    fixed (float* pda0 = a.Grad!.Buffer)
                    {
                        float* pda = pda0 + a.Grad.Offset;
                        if (tall) Gemm.Multiply(false, !transB, batch * m, k, n, 1f, pg, n, pb, ldb, 1f, pda, k);        // dA = dC·op(B)ᵀ
                        else if (!transA) Gemm.MultiplyBatched(false, !transB, m, k, n, 1f, pg, n, (long)m * n, pb, ldb, shared ? 0 : (long)k * n, 1f, pda, k, (long)m * k, batch);
                        else Gemm.MultiplyBatched(transB, true, k, m, n, 1f, pb, ldb, shared ? 0 : (long)k * n, pg, n, (long)m * n, 1f, pda, m, (long)m * k, batch); // dAᵀ = op(B)·dCᵀ
                    }
                }
                if (b.RequiresGrad)
                {
                    b.GradData();
                    fixed (float* pdb0 = b.Grad!.Buffer)
                    {
                        float* pdb = pdb0 + b.Grad.Offset;
                        if (tall && !transB) Gemm.Multiply(true, false, k, n, batch * m, 1f, pa, lda, pg, n, 1f, pdb, n);   // dB = Aᵀ·dC
                        else if (tall) Gemm.Multiply(true, false, n, k, batch * m, 1f, pg, n, pa, lda, 1f, pdb, k);         // dBᵀ = dCᵀ·A
                        else if (shared)
                            // A transposed against a shared B: the batch items' contributions are summed into one matrix, in order.
                            for (int i = 0; i < batch; i++)
                            {
                                float* ai = pa + (long)i * m * k, gi = pg + (long)i * m * n;
                                if (!transB) Gemm.Multiply(!transA, false, k, n, m, 1f, ai, lda, gi, n, 1f, pdb, n);
                                else Gemm.Multiply(true, transA, n, k, m, 1f, gi, n, ai, lda, 1f, pdb, k);
                            }
                        else if (!transB) Gemm.MultiplyBatched(!transA, false, k, n, m, 1f, pa, lda, (long)m * k, pg, n, (long)m * n, 1f, pdb, n, (long)k * n, batch);
                        else Gemm.MultiplyBatched(true, transA, n, k, m, 1f, pg, n, (long)m * n, pa, lda, (long)m * k, 1f, pdb, k, (long)k * n, batch);
                    }
                }
            }
        });
    }

    /// <summary>y = x·Wᵀ + bias with W in the Hugging Face layout [out, in] (nn.Linear).</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
    {
        var y = MatMul(x, weight, transB: true);
        return bias is null ? y : Add(y, bias);
    }
}
