using System.Runtime.Intrinsics;
using Ril.Tensors.Kernels;

namespace Ril.Tensors.Tests;

/// <summary>The tests that change <see cref="WorkerPool.Shared"/>'s thread count run in this non-parallel collection.</summary>
[CollectionDefinition("GemmKernels", DisableParallelization = true)]
public sealed class GemmKernelsCollection { }

[Collection("GemmKernels")]
public unsafe class GemmTests
{
    static readonly int[] OddSizes = [1, 2, 3, 5, 7, 15, 16, 17, 31, 33, 63, 65, 100, 129];

    /// <summary>One product's operands, with leading dimensions possibly larger than the minimum.</summary>
    sealed class Case
    {
        public bool TransA, TransB;
        public int M, N, K, Lda, Ldb, Ldc, Batch = 1;
        public long StrideA, StrideB, StrideC;
        public float Alpha = 1, Beta;
        public float[] A = [], B = [], C0 = [];

        public static Case Make(Random rnd, bool ta, bool tb, int m, int n, int k, int pad = 0, float alpha = 1, float beta = 0,
            int batch = 1, bool shareB = false)
        {
            var c = new Case { TransA = ta, TransB = tb, M = m, N = n, K = k, Alpha = alpha, Beta = beta, Batch = batch };
            c.Lda = (ta ? m : k) + pad;
            c.Ldb = (tb ? k : n) + pad;
            c.Ldc = n + pad;
            c.StrideA = (long)(ta ? k : m) * c.Lda + pad;
            c.StrideB = shareB ? 0 : (long)(tb ? n : k) * c.Ldb + pad;
            c.StrideC = (long)m * c.Ldc + pad;
            c.A = Fill(rnd, c.StrideA * batch + 1);
            c.B = Fill(rnd, Math.Max(c.StrideB * batch, (long)(tb ? n : k) * c.Ldb) + 1);
            // beta == 0 must ignore C entirely, NaN included.
            c.C0 = beta == 0 ? Enumerable.Repeat(float.NaN, (int)(c.StrideC * batch + 1)).ToArray() : Fill(rnd, c.StrideC * batch + 1);
            return c;
        }

        static float[] Fill(Random rnd, long len)
        {
            var x = new float[len];
            for (long i = 0; i < len; i++) x[i] = (float)(rnd.NextDouble() * 2 - 1);
            return x;
        }

        public float[] Run(Action<Case, nint, nint, nint> gemm)
        {
            var c = (float[])C0.Clone();
            fixed (float* pa = A, pb = B, pc = c) gemm(this, (nint)pa, (nint)pb, (nint)pc);
            return c;
        }

        public float[] RunGemm(bool? v512 = null) => Run((s, a, b, c) =>
        {
            bool wide = v512 ?? Vector512.IsHardwareAccelerated;
            if (s.Batch == 1 && s.StrideB != 0)
                Gemm.MultiplyWith(wide, s.TransA, s.TransB, s.M, s.N, s.K, s.Alpha, (float*)a, s.Lda, (float*)b, s.Ldb, s.Beta, (float*)c, s.Ldc);
            else
                Gemm.MultiplyBatchedWith(wide, s.TransA, s.TransB, s.M, s.N, s.K, s.Alpha, (float*)a, s.Lda, s.StrideA,
                    (float*)b, s.Ldb, s.StrideB, s.Beta, (float*)c, s.Ldc, s.StrideC, s.Batch);
        });

        /// <summary>Asserts |got − exact| ≤ 1e-5·(|alpha|·Σ_p |a||b| + |beta·c0|) element by element, and that padding is untouched.</summary>
        public void AssertMatches(float[] got, string what)
        {
            for (int t = 0; t < Batch; t++)
            {
                long oa = t * StrideA, ob = t * StrideB, oc = t * StrideC;
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++)
                    {
                        double sum = 0, mag = 0;
                        for (int p = 0; p < K; p++)
                        {
                            double av = TransA ? A[oa + (long)p * Lda + i] : A[oa + (long)i * Lda + p];
                            double bv = TransB ? B[ob + (long)j * Ldb + p] : B[ob + (long)p * Ldb + j];
                            sum += av * bv;
                            mag += Math.Abs(av * bv);
                        }
                        long ci = oc + (long)i * Ldc + j;
                        double c0 = Beta == 0 ? 0 : C0[ci];
                        double exact = Alpha * sum + Beta * c0;
                        double tol = 1e-5 * (Math.Abs(Alpha) * mag + Math.Abs(Beta * c0)) + 1e-30;
                        if (!(Math.Abs(got[ci] - exact) <= tol))
                            Assert.Fail($"{what}: {Describe()} item {t} C[{i},{j}] = {got[ci]}, expected {exact} (tol {tol:g3})");
                    }
                // Elements of C outside the m×n block (row padding) must be left alone.
                for (int i = 0; i < M; i++)
                    for (int j = N; j < Ldc && oc + (long)i * Ldc + j < got.Length; j++)
                    {
                        long ci = oc + (long)i * Ldc + j;
                        Assert.True(got[ci].Equals(C0[ci]), $"{what}: {Describe()} wrote padding C[{i},{j}]");
                    }
            }
        }

        public string Describe() =>
            $"{(TransA ? "T" : "N")}{(TransB ? "T" : "N")} m={M} n={N} k={K} lda={Lda} ldb={Ldb} ldc={Ldc} alpha={Alpha} beta={Beta} batch={Batch} strideB={StrideB}";
    }

    static IEnumerable<bool> VectorPaths() => Vector512.IsHardwareAccelerated ? [true, false] : [false];

    static void WithThreads(int threads, Action body)
    {
        int old = WorkerPool.Shared.Threads;
        WorkerPool.SetThreads(threads);
        try { body(); }
        finally { WorkerPool.SetThreads(old); }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void OddSizes_AllLayouts_MatchReference(bool ta, bool tb)
    {
        var rnd = new Random(ta ? tb ? 11 : 12 : tb ? 13 : 14);
        int q = 0;
        foreach (bool v512 in VectorPaths())
            foreach (int m in OddSizes)
                foreach (int n in OddSizes)
                {
                    // Three depths per (m, n), rotating through the list, keep the test fast yet cover every size as k.
                    for (int r = 0; r < 3; r++)
                    {
                        int k = OddSizes[(q++ * 5) % OddSizes.Length];
                        int pad = q % 3 == 0 ? 3 : 0;
                        float beta = (q % 4) switch { 0 => 0f, 1 => 1f, 2 => 0.25f, _ => -1.5f };
                        float alpha = q % 5 == 0 ? -0.75f : 1f;
                        var c = Case.Make(rnd, ta, tb, m, n, k, pad, alpha, beta);
                        c.AssertMatches(c.RunGemm(v512), v512 ? "v512" : "v256");
                    }
                }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void LargerShapes_OneAndTwoThreads_MatchAndAgreeBitwise(bool ta, bool tb)
    {
        var rnd = new Random(5);
        // Every path, split over rows and over columns: 600×130×250 and 200×40×450 are packed (several KC slices, an
        // MC block boundary, ragged edges); 300×257×190 is packed when B is n×k and unpacked when k×n; 37×1000×50 and
        // 72×64×100 are unpacked, split over columns and over rows; 12×130×200 is few-row; 1×… and …×1 matrix-vector
        // (1×200×300 takes one matrix-vector kernel on one thread and the other on two: they must agree bitwise).
        (int m, int n, int k)[] shapes = [(600, 130, 250), (200, 40, 450), (300, 257, 190), (37, 1000, 50), (72, 64, 100),
            (12, 130, 200), (1, 700, 333), (1, 200, 300), (513, 1, 300)];
        foreach (var (m, n, k) in shapes)
        {
            var c = Case.Make(rnd, ta, tb, m, n, k, pad: 5, alpha: 0.5f, beta: 2f);
            float[] one = [], two = [], twoAgain = [];
            WithThreads(1, () => one = c.RunGemm());
            WithThreads(2, () => { two = c.RunGemm(); twoAgain = c.RunGemm(); });
            c.AssertMatches(two, "2 threads");
            // Determinism: the thread count never changes the order of summation.
            Assert.Equal(two, twoAgain);
            Assert.Equal(one, two);
        }
    }

    /// <summary>
    /// The few-row path for B stored n×k (C = A·Bᵀ with a weight matrix, as in every Linear while decoding): m from 2
    /// to 64 around the multiples of four, odd n and k (masked k tails, partial 4×4 tiles), strided operands,
    /// alpha/beta, A stored either way; one and two threads bit-identical.
    /// </summary>
    [Fact]
    public void FewRows_TransposedB_MatchReference_AndAgreeBitwiseAcrossThreads()
    {
        var rnd = new Random(21);
        int[] ms = [2, 3, 4, 5, 7, 8, 9, 12, 13, 16, 17, 24, 31, 32, 33, 48, 63, 64];
        int[] ns = [2, 3, 5, 17, 31, 64, 130, 257, 1000];
        int[] ks = [1, 7, 15, 16, 17, 33, 100, 257, 515];
        int q = 0;
        foreach (int m in ms)
            for (int r = 0; r < 4; r++)
            {
                int n = ns[(q * 7 + r) % ns.Length], k = ks[(q * 5 + 3 * r) % ks.Length];
                q++;
                bool ta = q % 5 == 0;
                int pad = q % 3 == 0 ? 3 : 0;
                float beta = (q % 4) switch { 0 => 0f, 1 => 1f, 2 => 0.25f, _ => -1.5f };
                float alpha = q % 3 == 1 ? -0.75f : 1f;
                var c = Case.Make(rnd, ta, true, m, n, k, pad, alpha, beta);
                float[] one = [], two = [];
                WithThreads(1, () => one = c.RunGemm());
                WithThreads(2, () => two = c.RunGemm());
                c.AssertMatches(two, "few rows, B n×k");
                Assert.Equal(one, two);
            }
    }

    /// <summary>
    /// Decode-sized products with B stored n×k: every element of C equals the same element computed in any sub-block
    /// of C (other rows of A, other rows of B around it, other thread splits), so the result depends on nothing but
    /// the operands and k.
    /// </summary>
    [Fact]
    public void FewRows_TransposedB_ElementsIndependentOfTiling()
    {
        var rnd = new Random(22);
        foreach (var (m, n, k) in new[] { (16, 1376, 512), (16, 517, 333), (7, 300, 1376), (32, 260, 129), (64, 96, 100) })
        {
            var c = Case.Make(rnd, false, true, m, n, k, pad: 1, alpha: 1, beta: 0);
            float[] full = [];
            WithThreads(2, () => full = c.RunGemm());
            c.AssertMatches(full, "full");
            // Rows [i0, i0+mm) × columns [j0, j0+nn) as a product of their own: A and B start at row i0 and j0.
            foreach (var (i0, mm, j0, nn) in new[] { (1, m - 1, 3, n - 3), (m / 2, 2, 0, n), (0, m, 5, 2), (m - 3, 3, n - 9, 9) })
            {
                var sub = new float[(long)mm * c.Ldc];
                fixed (float* pa = c.A, pb = c.B, ps = sub)
                {
                    float* a = pa + (long)i0 * c.Lda, b = pb + (long)j0 * c.Ldb;
                    float* s = ps;
                    WithThreads(1, () => Gemm.Multiply(false, true, mm, nn, k, 1, a, c.Lda, b, c.Ldb, 0, s, c.Ldc));
                }
                for (int i = 0; i < mm; i++)
                    for (int j = 0; j < nn; j++)
                        if (!sub[(long)i * c.Ldc + j].Equals(full[(long)(i0 + i) * c.Ldc + j0 + j]))
                            Assert.Fail($"m={m} n={n} k={k}: C[{i0 + i},{j0 + j}] differs in the {mm}×{nn} sub-product");
            }
        }
    }

    [Fact]
    public void BetaZero_IgnoresNaN_AndAlphaZeroOrEmptyK_ScaleC()
    {
        var rnd = new Random(7);
        var c = Case.Make(rnd, false, false, 20, 45, 33, beta: 0);
        var got = c.RunGemm();
        Assert.DoesNotContain(got.Take(19 * c.Ldc + 45), float.IsNaN);
        c.AssertMatches(got, "beta=0");

        foreach (int k in new[] { 0, 5 })
        {
            var z = Case.Make(rnd, false, true, 9, 10, k, alpha: k == 0 ? 1 : 0, beta: 0.5f);
            z.AssertMatches(z.RunGemm(), "scale only");
        }
    }

    [Fact]
    public void Batched_SharedAndSeparateB_SmallAndLarge_OneAndTwoThreads()
    {
        var rnd = new Random(9);
        // (m, n, k, batch): small items go across the batch in parallel, big ones are split internally;
        // batches of 3 and 7 do not divide evenly over two threads.
        (int m, int n, int k, int batch)[] shapes = [(16, 16, 16, 8), (33, 17, 65, 7), (64, 64, 32, 3), (1, 40, 70, 6), (300, 260, 140, 2), (5, 3, 2, 64)];
        int q = 0;
        foreach (var (m, n, k, batch) in shapes)
            foreach (bool shareB in new[] { true, false })
            {
                bool ta = (q & 1) != 0, tb = (q & 2) != 0;
                q++;
                var c = Case.Make(rnd, ta, tb, m, n, k, pad: 2, alpha: 1.25f, beta: q % 2 == 0 ? 0 : 0.5f, batch: batch, shareB: shareB);
                float[] one = [], two = [];
                WithThreads(1, () => one = c.RunGemm());
                WithThreads(2, () => two = c.RunGemm());
                c.AssertMatches(two, "batched");
                Assert.Equal(one, two);

                // Each item equals a lone Multiply of that item.
                var single = new float[two.Length];
                Array.Copy(c.C0, single, single.Length);
                fixed (float* pa = c.A, pb = c.B, pc = single)
                    for (int t = 0; t < batch; t++)
                        Gemm.Multiply(ta, tb, m, n, k, c.Alpha, pa + t * c.StrideA, c.Lda, pb + t * c.StrideB, c.Ldb, c.Beta, pc + t * c.StrideC, c.Ldc);
                Assert.Equal(single, two);
            }
    }

    [Fact]
    public void Deterministic_RepeatedRunsAreBitIdentical()
    {
        var rnd = new Random(3);
        foreach (var (m, n, k) in new[] { (64, 64, 64), (129, 100, 300), (1, 768, 200), (256, 64, 256) })
        {
            var c = Case.Make(rnd, false, true, m, n, k, alpha: 1, beta: 0);
            var first = c.RunGemm();
            for (int r = 0; r < 3; r++) Assert.Equal(first, c.RunGemm());
        }
    }

    [Fact]
    public void OpenBlas_MatchesReference_WhenAvailable()
    {
        if (!OpenBlas.IsAvailable) return;
        var rnd = new Random(4);
        foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
            foreach (var (m, n, k) in new[] { (17, 33, 65), (1, 100, 31), (64, 64, 64) })
            {
                var c = Case.Make(rnd, ta, tb, m, n, k, pad: 1, alpha: 0.5f, beta: 1.5f);
                var got = c.Run((s, a, b, cc) => OpenBlas.Sgemm(s.TransA, s.TransB, s.M, s.N, s.K, s.Alpha,
                    (float*)a, s.Lda, (float*)b, s.Ldb, s.Beta, (float*)cc, s.Ldc));
                c.AssertMatches(got, "openblas");
            }
    }

    [Fact]
    public void InvalidArguments_Throw()
    {
        var a = new float[100];
        fixed (float* p = a)
        {
            float* pp = p;
            Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(false, false, -1, 2, 2, 1, pp, 2, pp, 2, 0, pp, 2));
            Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.Multiply(false, false, 3, 4, 5, 1, pp, 4, pp, 4, 0, pp, 4));
        }
    }

    /// <summary>
    /// Few rows against a bf16 weight read in place: the vector kernel against its scalar reference (one float32 FMA
    /// chain per output) for odd sizes and tails, and, up to four rows, bit for bit against the float32 path on the
    /// widened weight (the same Dot4x4 arithmetic), on one thread and on three.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Bf16_few_rows_match_the_scalar_reference_and_the_float32_path(int threads) => WithThreads(threads, () =>
        {
            var rnd = new Random(5);
            foreach (int m in new[] { 1, 2, 3, 4, 5, 8, 17, 63, 64 })
                foreach (var (n, k) in new[] { (1, 16), (3, 1), (37, 515), (130, 64), (9, 1000), (7, 96), (8, 2600) })   // k = 2600: up to eight rows take k in chunks
                {
                    int lda = k + 3, ldc = n + 2;
                    var a = Enumerable.Range(0, m * lda).Select(_ => (float)(rnd.NextDouble() * 2 - 1)).ToArray();
                    var w = Enumerable.Range(0, n * k).Select(_ => BFloat16.FromFloat((float)(rnd.NextDouble() * 2 - 1))).ToArray();
                    var widened = new float[n * k];
                    BFloat16.DecodeReference(w, widened);
                    float[] kernel = Filled(m * ldc), reference = Filled(m * ldc), float32 = Filled(m * ldc);
                    fixed (float* pa = a, pk = kernel, pr = reference, pf = float32, pwf = widened)
                    fixed (ushort* pw = w)
                    {
                        Gemm.MultiplyBf16Transposed(m, n, k, pa, lda, pw, pk, ldc);
                        Gemm.MultiplyBf16TransposedReference(m, n, k, pa, lda, pw, pr, ldc);
                        Gemm.Multiply(false, true, m, n, k, 1f, pa, lda, pwf, k, 0f, pf, ldc);
                    }
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < n; j++)
                        {
                            float got = kernel[i * ldc + j], want = reference[i * ldc + j];
                            Assert.True(MathF.Abs(got - want) <= 1e-5f * (1 + MathF.Sqrt(k)), $"m={m} n={n} k={k} [{i},{j}]: {got} vs reference {want}");
                            // n == 1 takes the float32 path's other matrix-vector kernel, whose sums are grouped differently;
                            // more than four rows take 32 weights a step, split into even and odd ones (another grouping).
                            if (n > 1 && (m <= 4 || k < 32) && Vector512.IsHardwareAccelerated) Assert.True(float32[i * ldc + j] == got, $"m={m} n={n} k={k} [{i},{j}]: {got} vs float32 path {float32[i * ldc + j]}");
                        }
                    // Against the exact sums (float64), the kernel's grouping is as accurate as the float32 path's.
                    double kernelError = 0, float32Error = 0;
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < n; j++)
                        {
                            double exact = 0;
                            for (int p = 0; p < k; p++) exact += (double)a[i * lda + p] * widened[j * k + p];
                            kernelError = Math.Max(kernelError, Math.Abs(kernel[i * ldc + j] - exact));
                            float32Error = Math.Max(float32Error, Math.Abs(float32[i * ldc + j] - exact));
                        }
                    Assert.True(kernelError <= 2 * float32Error + 1e-6, $"m={m} n={n} k={k}: error {kernelError:E2} against the float32 path's {float32Error:E2}");
                    // Padding between rows of C is never written.
                    for (int i = 0; i < m; i++)
                        for (int j = n; j < ldc && i < m - 1; j++) Assert.True(float.IsNaN(kernel[i * ldc + j]));
                }
        });

    static float[] Filled(int length) => Enumerable.Repeat(float.NaN, length).ToArray();

    /// <summary>
    /// A bf16 B through the packed path (training and prefill with a frozen weight), both layouts, both vector widths,
    /// odd sizes and tails, beta 0 and 1: against the float64 reference on the widened B, and bit for bit against the
    /// float32 path on the widened B for shapes where that path packs too (m > 64 with B n×k; m·k > 64 K with B k×n).
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Bf16_packed_products_match_the_reference_and_the_float32_packed_path(int threads) => WithThreads(threads, () =>
        {
            var rnd = new Random(6);
            foreach (bool wide in Vector512.IsHardwareAccelerated ? new[] { true, false } : new[] { false })
                foreach (bool transB in new[] { true, false })
                    foreach (var (m, n, k) in new[] { (65, 37, 515), (7, 130, 9), (80, 1, 1001), (130, 70, 600), (200, 33, 17) })
                        foreach (float beta in new[] { 0f, 1f })
                        {
                            int lda = k + 3, ldb = (transB ? k : n) + 5, ldc = n + 2;
                            var a = Enumerable.Range(0, m * lda).Select(_ => (float)(rnd.NextDouble() * 2 - 1)).ToArray();
                            var b = Enumerable.Range(0, (transB ? n : k) * ldb).Select(_ => BFloat16.FromFloat((float)(rnd.NextDouble() * 2 - 1))).ToArray();
                            var widened = new float[b.Length];
                            BFloat16.DecodeReference(b, widened);
                            var start = Enumerable.Range(0, m * ldc).Select(_ => (float)rnd.NextDouble()).ToArray();
                            float[] kernel = (float[])start.Clone(), reference = (float[])start.Clone(), float32 = (float[])start.Clone();
                            fixed (float* pa = a, pk = kernel, pr = reference, pf = float32, pwf = widened)
                            fixed (ushort* pb = b)
                            {
                                Gemm.MultiplyBf16With(wide, transB, m, n, k, pa, lda, pb, ldb, beta, pk, ldc);
                                GemmReference.Multiply(false, transB, m, n, k, 1f, pa, lda, pwf, ldb, beta, pr, ldc);
                                Gemm.MultiplyWith(wide, false, transB, m, n, k, 1f, pa, lda, pwf, ldb, beta, pf, ldc);
                            }
                            // The float32 path's choice (Gemm.Core and UseUnpacked): matrix-vector for one column, else, with AVX-512,
                            // unpacked for few rows or for B k×n whose chunks and A fit in L2 when n ≥ 64; packed otherwise.
                            bool unpacked = wide && (transB ? m <= Gemm.DotRowsMax
                                : m <= Gemm.SmallRowsMax || (k <= Gemm.StreamMaxK && (long)m * k <= Gemm.StreamMaxAFloats && n >= 64));
                            bool floatPathPacks = n > 1 && !unpacked;
                            for (int i = 0; i < m; i++)
                                for (int j = 0; j < ldc; j++)
                                {
                                    float got = kernel[i * ldc + j], want = reference[i * ldc + j];
                                    if (j >= n) { Assert.Equal(start[i * ldc + j], got); continue; }   // padding untouched
                                    Assert.True(MathF.Abs(got - want) <= 1e-5f * (1 + MathF.Sqrt(k)), $"v512={wide} transB={transB} {m}x{n}x{k} beta={beta} [{i},{j}]: {got} vs reference {want}");
                                    if (floatPathPacks) Assert.True(float32[i * ldc + j] == got, $"v512={wide} transB={transB} {m}x{n}x{k} [{i},{j}]: {got} vs float32 path {float32[i * ldc + j]}");
                                }
                        }
        });
}

[Collection("GemmKernels")]
public class WorkerPoolTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void For_CoversEveryIndexExactlyOnce(int threads)
    {
        int old = WorkerPool.Shared.Threads;
        WorkerPool.SetThreads(threads);
        try
        {
            var pool = WorkerPool.Shared;
            Assert.Equal(threads, pool.Threads);
            foreach (int count in new[] { 0, 1, 2, 3, 5, 64, 1000 })
            {
                var hits = new int[count];
                for (int rep = 0; rep < 20; rep++)
                {
                    pool.For(count, i => Interlocked.Increment(ref hits[i]));
                }
                Assert.All(hits, h => Assert.Equal(20, h));

                var seen = new int[count];
                pool.ForRange(count, 7, (s, e) =>
                {
                    Assert.True(e - s >= Math.Min(7, count));
                    for (int i = s; i < e; i++) Interlocked.Increment(ref seen[i]);
                });
                Assert.All(seen, h => Assert.Equal(1, h));
            }
        }
        finally { WorkerPool.SetThreads(old); }
    }

    [Fact]
    public void For_AssignsIndicesStatically()
    {
        int old = WorkerPool.Shared.Threads;
        WorkerPool.SetThreads(2);
        try
        {
            // With two threads, [0, 5) is one block run in order by the caller and [5, 10) another, run in order by
            // one thread (the worker, or the caller if the worker was not awake to take it).
            int caller = Environment.CurrentManagedThreadId;
            for (int rep = 0; rep < 10; rep++)
            {
                var ids = new int[10];
                var order = new int[10];
                int tick = 0;
                WorkerPool.Shared.For(10, i => { ids[i] = Environment.CurrentManagedThreadId; order[i] = Interlocked.Increment(ref tick); });
                Assert.All(ids.Take(5), id => Assert.Equal(caller, id));
                Assert.Single(ids.Skip(5).Distinct());
                for (int i = 1; i < 10; i++)
                    if (i != 5) Assert.True(order[i] > order[i - 1]);
            }
        }
        finally { WorkerPool.SetThreads(old); }
    }

    [Fact]
    public void For_PropagatesExceptions_AndStaysUsable()
    {
        int old = WorkerPool.Shared.Threads;
        WorkerPool.SetThreads(2);
        try
        {
            var pool = WorkerPool.Shared;
            // Index 7 runs on the worker thread, index 1 on the caller: both must surface.
            var ex = Assert.Throws<InvalidOperationException>(() => pool.For(8, i => { if (i == 7) throw new InvalidOperationException("worker"); }));
            Assert.Equal("worker", ex.Message);
            Assert.Throws<InvalidOperationException>(() => pool.For(8, i => { if (i == 1) throw new InvalidOperationException("caller"); }));
            int sum = 0;
            pool.For(100, i => Interlocked.Add(ref sum, i));
            Assert.Equal(4950, sum);
        }
        finally { WorkerPool.SetThreads(old); }
    }

    [Fact]
    public void For_NestedCallsRunSerially()
    {
        int old = WorkerPool.Shared.Threads;
        WorkerPool.SetThreads(2);
        try
        {
            var pool = WorkerPool.Shared;
            var sums = new long[6];
            pool.For(6, i =>
            {
                int tid = Environment.CurrentManagedThreadId;
                pool.For(100, j =>
                {
                    Assert.Equal(tid, Environment.CurrentManagedThreadId);
                    sums[i] += j;   // serial, so no race
                });
            });
            Assert.All(sums, s => Assert.Equal(4950, s));
        }
        finally { WorkerPool.SetThreads(old); }
    }

    [Fact]
    public void For_WorksAfterWorkersWentToSleep()
    {
        int old = WorkerPool.Shared.Threads;
        WorkerPool.SetThreads(2);
        try
        {
            var pool = WorkerPool.Shared;
            for (int rep = 0; rep < 3; rep++)
            {
                Thread.Sleep(5);    // longer than the spin period: the worker blocks and must be woken
                int sum = 0;
                pool.For(10, i => Interlocked.Add(ref sum, i));
                Assert.Equal(45, sum);
            }
        }
        finally { WorkerPool.SetThreads(old); }
    }
}
