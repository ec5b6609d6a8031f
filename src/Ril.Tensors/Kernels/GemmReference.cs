namespace Ril.Tensors.Kernels;

/// <summary>
/// Plain scalar matrix multiply with the same contract as <see cref="Gemm"/>: the definition the fast kernel is
/// tested against. Single-threaded; sums in double so its own rounding error is negligible next to Gemm's.
/// </summary>
public static unsafe class GemmReference
{
    /// <summary>C (m×n, row stride ldc) = alpha·op(A)·op(B) + beta·C, row-major; see <see cref="Gemm.Multiply"/>.</summary>
    public static void Multiply(bool transA, bool transB, int m, int n, int k,
        float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
    {
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = 0;
                for (int p = 0; p < k; p++)
                {
                    float av = transA ? a[(long)p * lda + i] : a[(long)i * lda + p];
                    float bv = transB ? b[(long)j * ldb + p] : b[(long)p * ldb + j];
                    sum += (double)av * bv;
                }
                float* cij = c + (long)i * ldc + j;
                // beta == 0 overwrites: the old value is not read, so NaN/garbage in C does not leak through.
                *cij = beta == 0 ? (float)(alpha * sum) : (float)(alpha * sum + (double)beta * *cij);
            }
        }
    }

    /// <summary>Batched form; see <see cref="Gemm.MultiplyBatched"/>.</summary>
    public static void MultiplyBatched(bool transA, bool transB, int m, int n, int k,
        float alpha, float* a, int lda, long strideA, float* b, int ldb, long strideB,
        float beta, float* c, int ldc, long strideC, int batch)
    {
        for (int t = 0; t < batch; t++)
            Multiply(transA, transB, m, n, k, alpha, a + t * strideA, lda, b + t * strideB, ldb, beta, c + t * strideC, ldc);
    }
}
