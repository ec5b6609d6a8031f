using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Ril.Tensors.Kernels;

/// <summary>
/// Single-precision matrix multiply (SGEMM), row-major. Three paths, chosen from the shape alone:
/// <list type="bullet">
/// <item>m == 1 or n == 1 — matrix-vector: stream the matrix once with vector FMAs (memory-bound; no packing).</item>
/// <item>few rows, or B stored k×n with A and a k×64 chunk of B fitting in L2 — "unpacked": register tiles read
/// B (and A) where they lie; no packing cost, each output one FMA chain over all of k (AVX-512 only).</item>
/// <item>everything else — packed and register-tiled in the manner of BLIS/GotoBLAS: C is cut into NC-wide column
/// blocks; k into KC-deep slices; each NR-wide panel of the KC×NC slice of op(B) is packed just before its first
/// use; each MC-tall row block of op(A) is packed into MR-tall panels (kept in L2); a micro-kernel multiplies an
/// MR×KC A panel by a KC×NR B panel (in L1) into an MR×NR tile of C held in registers. With AVX-512 the tile is
/// 8×32: 16 zmm accumulators, two B vectors and eight broadcasts of A per k step (6×16 in 12 ymm with AVX2).
/// Only the packing routines read the caller's layout, so one kernel serves all four transpose combinations.</item>
/// </list>
/// <para>
/// Threads split C (over m or n, never over k). Every element of C is computed by the same sequence of operations
/// whichever thread computes it and however C is split (k is summed in the same slices, partial tiles use the same
/// instructions with masked loads and stores), and the path depends on the shape only, so results are bit-identical
/// across runs and across thread counts.
/// </para>
/// <para>
/// Measured on the 2-core AMD EPYC (Zen 4) this was tuned on, whose FMA peak is ~116 GFLOP/s per core: 95% of it on
/// one core for 64..256-sized products, ~200 GFLOP/s on two cores at 256³ and 1024³, on par with or ahead of
/// OpenBLAS 0.3 (SkylakeX kernels) everywhere except products below ~32³ (OpenBLAS's per-call cost is ~0.1 µs
/// lower). Those are not routed to OpenBLAS: the gain is a fraction of a microsecond, and results would then depend
/// on whether the library is installed. Run `Ril.Bench gemm` for the numbers.
/// </para>
/// </summary>
[SkipLocalsInit]
public static unsafe class Gemm
{
    // ---- blocking parameters of the packed path (tuned on AMD EPYC Zen 4: 32 KiB L1, 1 MiB L2 per core) ----
    /// <summary>k slice depth: a KC×NR B panel (24 KiB with NR=32) stays in L1; 128..256 measured within noise.</summary>
    internal static int KC = 192;
    /// <summary>Rows of A packed at once (rounded to a multiple of MR): MC×KC floats stay in L2.</summary>
    internal static int MC = 192;
    /// <summary>Columns of B packed at once: KC×NC floats live in L2/L3.</summary>
    internal static int NC = 3072;

    /// <summary>Whether the Vector512 kernels (8×32 tile) are used; otherwise the Vector256 ones (6×16 tile).</summary>
    internal static readonly bool HasV512 = Vector512.IsHardwareAccelerated;

    /// <summary>Below this many multiply-adds (m·n·k) a product runs on one thread: dispatch would cost more than it saves.</summary>
    internal static long ParallelMinMacs = 48 * 1024;

    /// <summary>
    /// Row-major C (m×n, row stride ldc) = alpha·op(A)·op(B) + beta·C. op(A) is m×k: A is stored m×k (row stride lda)
    /// or, when <paramref name="transA"/>, k×m. op(B) is k×n: B is stored k×n or, when <paramref name="transB"/>, n×k.
    /// beta == 0 overwrites C without reading it.
    /// </summary>
    public static void Multiply(bool transA, bool transB, int m, int n, int k,
        float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
        => MultiplyWith(HasV512, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    /// <summary>
    /// <paramref name="batch"/> independent products; consecutive items are strideA/strideB/strideC elements apart
    /// (strideB == 0 shares one B). Items run in parallel, each on one thread, when they spread evenly over the
    /// threads (or are small); otherwise one after another, each split across threads.
    /// </summary>
    public static void MultiplyBatched(bool transA, bool transB, int m, int n, int k,
        float alpha, float* a, int lda, long strideA, float* b, int ldb, long strideB,
        float beta, float* c, int ldc, long strideC, int batch)
        => MultiplyBatchedWith(HasV512, transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc, strideC, batch);

    /// <summary><see cref="Multiply"/> with the vector width chosen by the caller (tests run the Vector256 path too).</summary>
    internal static void MultiplyWith(bool v512, bool transA, bool transB, int m, int n, int k,
        float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
    {
        Check(transA, transB, m, n, k, lda, ldb, ldc);
        if (m == 0 || n == 0) return;
        var pool = WorkerPool.Shared;
        var p = new Problem(v512, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        Core(ref p, pool, pool.AvailableThreads);
    }

    /// <summary>
    /// <see cref="Multiply"/> with B in bf16 (stored k×n, or n×k when <paramref name="transB"/>): always the packed path,
    /// whose packing of B widens each value exactly as it copies it, so B is never held in float32 beyond one panel.
    /// The result is the packed path's on the widened B, bit for bit (a frozen bf16 weight in training and prefill).
    /// </summary>
    public static void MultiplyBf16(bool transB, int m, int n, int k, float* a, int lda, ushort* b, int ldb, float beta, float* c, int ldc)
        => MultiplyBf16With(HasV512, transB, m, n, k, a, lda, b, ldb, beta, c, ldc);

    internal static void MultiplyBf16With(bool v512, bool transB, int m, int n, int k, float* a, int lda, ushort* b, int ldb, float beta, float* c, int ldc)
    {
        Check(false, transB, m, n, k, lda, ldb, ldc);
        if (m == 0 || n == 0) return;
        var pool = WorkerPool.Shared;
        var p = new Problem(v512, false, transB, m, n, k, 1f, a, lda, null, ldb, beta, c, ldc) { B16 = b };
        Core(ref p, pool, pool.AvailableThreads);
    }

    /// <summary><see cref="MultiplyBatched"/> with the vector width chosen by the caller.</summary>
    internal static void MultiplyBatchedWith(bool v512, bool transA, bool transB, int m, int n, int k,
        float alpha, float* a, int lda, long strideA, float* b, int ldb, long strideB,
        float beta, float* c, int ldc, long strideC, int batch)
    {
        Check(transA, transB, m, n, k, lda, ldb, ldc);
        if (batch < 0) throw new ArgumentOutOfRangeException(nameof(batch));
        if (m == 0 || n == 0 || batch == 0) return;
        var pool = WorkerPool.Shared;
        int threads = pool.AvailableThreads;
        long macs = (long)m * n * k;
        // Across items (each on one thread, in index order) when they balance over the threads — a multiple of the
        // thread count, or many — or are too small to split anyway. Measured: never slower than splitting each item,
        // and up to 1.25× faster for 256×256×64 items (no duplicated packing, no per-item dispatch). Either way each
        // item is computed exactly as a lone Multiply of that shape would compute it.
        bool acrossItems = threads > 1 && batch > 1
            && (batch % threads == 0 || batch >= 4 * threads || macs < 4 * ParallelMinMacs);
        var job = new BatchJob
        {
            P = new Problem(v512, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc),
            StrideA = strideA, StrideB = strideB, StrideC = strideC,
        };
        if (acrossItems)
        {
            pool.For(batch, &BatchItem, &job);
            return;
        }
        for (int t = 0; t < batch; t++)
        {
            var p = job.Item(t);
            Core(ref p, pool, threads);
        }
    }

    /// <summary>Everything that defines one product, plus the tile shape of the chosen kernel.</summary>
    struct Problem
    {
        public bool TransA, TransB, V512;
        public int M, N, K, Lda, Ldb, Ldc;
        public float Alpha, Beta;
        public float* A, B, C;
        /// <summary>B in bf16 instead of <see cref="B"/> (same layout and stride): widened exactly as it is packed.</summary>
        public ushort* B16;
        public int Mr, Nr;
        // Packed path, multi-threaded: Tm row bands × Tn column bands, bands made of whole tiles.
        public int Tm, Tn, RowTiles, ColTiles;

        public Problem(bool v512, bool transA, bool transB, int m, int n, int k,
            float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
        {
            V512 = v512; TransA = transA; TransB = transB; M = m; N = n; K = k;
            Alpha = alpha; A = a; Lda = lda; B = b; Ldb = ldb; Beta = beta; C = c; Ldc = ldc;
            Mr = v512 ? 8 : 6;
            Nr = v512 ? 32 : 16;
            Tm = Tn = 1;
            RowTiles = (m + Mr - 1) / Mr;
            ColTiles = (n + Nr - 1) / Nr;
        }
    }

    struct BatchJob
    {
        public Problem P;
        public long StrideA, StrideB, StrideC;

        public Problem Item(int t)
        {
            var p = P;
            p.A += t * StrideA;
            p.B += t * StrideB;
            p.C += t * StrideC;
            return p;
        }
    }

    static void BatchItem(void* state, int t)
    {
        var p = ((BatchJob*)state)->Item(t);
        Core(ref p, null, 1);
    }

    static void Check(bool transA, bool transB, int m, int n, int k, int lda, int ldb, int ldc)
    {
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m));
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n));
        if (k < 0) throw new ArgumentOutOfRangeException(nameof(k));
        if (k > 0 && m > 0 && lda < (transA ? m : k)) throw new ArgumentOutOfRangeException(nameof(lda));
        if (k > 0 && n > 0 && ldb < (transB ? k : n)) throw new ArgumentOutOfRangeException(nameof(ldb));
        if (m > 1 && ldc < n) throw new ArgumentOutOfRangeException(nameof(ldc));
    }

    /// <summary>The product on at most <paramref name="threads"/> threads (pool may be null when threads == 1).
    /// The path depends only on the shape, so the thread count never changes the arithmetic.</summary>
    static void Core(ref Problem p, WorkerPool? pool, int threads)
    {
        if (p.K == 0 || p.Alpha == 0)
        {
            ScaleC(p.M, p.N, p.Beta, p.C, p.Ldc);
            return;
        }
        if ((long)p.M * p.N * p.K < ParallelMinMacs || pool == null) threads = 1;

        if (p.B16 != null) Packed(ref p, pool, threads);   // only packing reads a bf16 B
        else if (p.M == 1 || p.N == 1) MatVec(ref p, pool, threads);
        else if (UseUnpacked(ref p)) Unpacked(ref p, pool, threads);
        else Packed(ref p, pool, threads);
    }

    static void ScaleC(int m, int n, float beta, float* c, int ldc)
    {
        for (int i = 0; i < m; i++)
        {
            var row = new Span<float>(c + (long)i * ldc, n);
            if (beta == 0) row.Clear();
            else if (beta != 1) for (int j = 0; j < n; j++) row[j] *= beta;
        }
    }

    // =====================================================================================================
    // Packed path
    // =====================================================================================================

    static void Packed(ref Problem p, WorkerPool? pool, int threads)
    {
        if (threads > 1)
        {
            ChooseGrid(ref p, threads);
            int parts = p.Tm * p.Tn;
            if (parts > 1)
            {
                fixed (Problem* pp = &p) pool!.For(parts, &PackedPart, pp);
                return;
            }
        }
        PackedRegion(ref p, 0, p.M, 0, p.N);
    }

    /// <summary>
    /// Picks the thread grid Tm×Tn (Tm·Tn ≤ threads) minimising an estimate of the slowest thread's time: its share
    /// of the tiles plus the packing it must do. Splitting rows makes every row band pack all of B; splitting columns
    /// makes every column band pack all of A; so the larger dimension is usually the one split.
    /// </summary>
    static void ChooseGrid(ref Problem p, int threads)
    {
        double best = double.MaxValue;
        for (int tm = 1; tm <= threads; tm++)
        {
            int tn = threads / tm;
            if (tm > p.RowTiles || tn > p.ColTiles || tn < 1) continue;
            double rows = (double)((p.RowTiles + tm - 1) / tm) * p.Mr;
            double cols = (double)((p.ColTiles + tn - 1) / tn) * p.Nr;
            // One packed element costs roughly as much as 8 multiply-adds in the micro-kernel.
            double cost = rows * cols * p.K + 8.0 * (rows + cols) * p.K;
            if (cost < best) { best = cost; p.Tm = tm; p.Tn = tn; }
        }
    }

    static void PackedPart(void* state, int part)
    {
        ref Problem p = ref Unsafe.AsRef<Problem>(state);
        int bm = part / p.Tn, bn = part % p.Tn;
        // Bands start on tile boundaries so only the last band of each dimension has a partial tile.
        int m0 = (int)((long)p.RowTiles * bm / p.Tm) * p.Mr, m1 = Math.Min(p.M, (int)((long)p.RowTiles * (bm + 1) / p.Tm) * p.Mr);
        int n0 = (int)((long)p.ColTiles * bn / p.Tn) * p.Nr, n1 = Math.Min(p.N, (int)((long)p.ColTiles * (bn + 1) / p.Tn) * p.Nr);
        if (m0 < m1 && n0 < n1) PackedRegion(ref p, m0, m1, n0, n1);
    }

    /// <summary>Computes C[m0..m1, n0..n1) on the current thread with its own packing buffers.</summary>
    static void PackedRegion(ref Problem j, int m0, int m1, int n0, int n1)
    {
        int mr = j.Mr, nr = j.Nr, kcMax = KC, mcMax = RoundUp(MC, mr), ncMax = RoundUp(NC, nr);
        var buf = PackBuffers.Get((long)mcMax * kcMax, (long)ncMax * kcMax);
        float* pa = buf.A, pb = buf.B;
        float* tile = stackalloc float[6 * 16];     // scratch for partial tiles of the AVX2 kernel

        for (int jc = n0; jc < n1; jc += ncMax)
        {
            int nc = Math.Min(ncMax, n1 - jc);
            for (int pc = 0; pc < j.K; pc += kcMax)
            {
                int kc = Math.Min(kcMax, j.K - pc);
                // The first k slice applies beta; later slices accumulate onto what the first wrote.
                float beta = pc == 0 ? j.Beta : 1f;
                for (int ic = m0; ic < m1; ic += mcMax)
                {
                    int mc = Math.Min(mcMax, m1 - ic);
                    for (int ir = 0; ir < mc; ir += mr)
                        PackAPanel(ref j, pc, kc, ic + ir, Math.Min(mr, mc - ir), pa + (long)ir * kc);

                    for (int jr = 0; jr < nc; jr += nr)
                    {
                        int nrr = Math.Min(nr, nc - jr);
                        float* bPanel = pb + (long)jr * kc;
                        long bs = nr;
                        // B panels are packed during the first row block, just before their first use, so that use
                        // finds the panel in L1 instead of reading back a KC×NC block that may not fit in L2.
                        if (ic == m0) PackBPanel(ref j, pc, kc, jc + jr, nrr, bPanel);
                        for (int ir = 0; ir < mc; ir += mr)
                        {
                            int mrr = Math.Min(mr, mc - ir);
                            float* aPanel = pa + (long)ir * kc;
                            float* cTile = j.C + (long)(ic + ir) * j.Ldc + jc + jr;
                            if (j.V512)
                            {
                                // A last panel of at most 16 real columns needs only half the multiply-adds.
                                if (nrr > 16) Kernel8x32(kc, aPanel, bPanel, bs, cTile, j.Ldc, j.Alpha, beta, mrr, nrr);
                                else Kernel8x16(kc, aPanel, bPanel, bs, cTile, j.Ldc, j.Alpha, beta, mrr, nrr);
                            }
                            else if (mrr == mr && nrr == nr)
                                Kernel6x16(kc, aPanel, bPanel, cTile, j.Ldc, j.Alpha, beta);
                            else
                                EdgeTile6x16(kc, aPanel, bPanel, cTile, j.Ldc, j.Alpha, beta, mrr, nrr, tile);
                        }
                    }
                }
            }
        }
    }

    static int RoundUp(int x, int to) => (x + to - 1) / to * to;

    /// <summary>
    /// A partial tile for the AVX2 kernel: copy the valid part of C into a full-size scratch tile, run the ordinary
    /// micro-kernel on it, copy the valid part back. The arithmetic on every real element is exactly the full-tile
    /// arithmetic (the padding of the packed panels is zeros), so results do not depend on where tiles fall.
    /// (The AVX-512 kernel handles partial tiles itself with masked loads and stores.)
    /// </summary>
    static void EdgeTile6x16(int kc, float* aPanel, float* bPanel, float* c, int ldc, float alpha, float beta,
        int mrr, int nrr, float* tile)
    {
        new Span<float>(tile, 6 * 16).Clear();
        if (beta != 0)
            for (int r = 0; r < mrr; r++)
                new ReadOnlySpan<float>(c + (long)r * ldc, nrr).CopyTo(new Span<float>(tile + r * 16, nrr));
        Kernel6x16(kc, aPanel, bPanel, tile, 16, alpha, beta);
        for (int r = 0; r < mrr; r++)
            new ReadOnlySpan<float>(tile + r * 16, nrr).CopyTo(new Span<float>(c + (long)r * ldc, nrr));
    }

    // ---- packing ----
    // Packed A: panels of MR rows; within a panel, for each p the MR values A[i0..i0+MR, p] are consecutive.
    // Packed B: panels of NR columns; within a panel, for each p the NR values B[p, j0..j0+NR] are consecutive.
    // Rows/columns past the matrix edge are zero so the micro-kernel can always run a full tile.
    // Two of the four source layouts are plain copies; the other two are transposes, done in 8×8 blocks with AVX.

    /// <summary>Packs rows [i0, i0+rows) of op(A), k range [pc, pc+kc), as one MR-row panel.</summary>
    static void PackAPanel(ref Problem j, int pc, int kc, int i0, int rows, float* d)
    {
        int mr = j.Mr;
        if (j.TransA)
        {
            // A stored k×m: for each p the panel's values are consecutive in row p of A.
            float* s = j.A + (long)pc * j.Lda + i0;
            if (rows == 8 && mr == 8)
                for (int p = 0; p < kc; p++, d += 8, s += j.Lda) Vector256.Store(Vector256.Load(s), d);
            else
                for (int p = 0; p < kc; p++, d += mr, s += j.Lda)
                    for (int r = 0; r < mr; r++) d[r] = r < rows ? s[r] : 0f;
        }
        else
        {
            // A stored m×k: the panel is the transpose of an rows×kc block.
            float* s = j.A + (long)i0 * j.Lda + pc;
            int p = 0;
            if (rows == 8 && mr == 8 && Avx.IsSupported)
                for (; p + 8 <= kc; p += 8) Transpose8x8(s + p, j.Lda, d + p * 8, 8);
            for (; p < kc; p++)
                for (int r = 0; r < mr; r++) d[p * mr + r] = r < rows ? s[(long)r * j.Lda + p] : 0f;
        }
    }

    /// <summary>Packs columns [j0, j0+cols) of op(B), k range [pc, pc+kc), as one NR-column panel.</summary>
    static void PackBPanel(ref Problem j, int pc, int kc, int j0, int cols, float* d)
    {
        int nr = j.Nr;
        if (j.B16 != null) PackBPanelBf16(ref j, pc, kc, j0, cols, d);
        else if (!j.TransB)
        {
            // B stored k×n: for each p the panel's values are consecutive in row p of B — vector copies.
            float* s = j.B + (long)pc * j.Ldb + j0;
            if (cols == 32 && nr == 32)
                for (int p = 0; p < kc; p++, d += 32, s += j.Ldb)
                {
                    Vector512.Store(Vector512.Load(s), d);
                    Vector512.Store(Vector512.Load(s + 16), d + 16);
                }
            else if (cols == 16 && nr == 16)
                for (int p = 0; p < kc; p++, d += 16, s += j.Ldb)
                {
                    Vector256.Store(Vector256.Load(s), d);
                    Vector256.Store(Vector256.Load(s + 8), d + 8);
                }
            else if (nr == 32)
            {
                // Partial panel: masked loads read only the real columns and leave zeros in the rest.
                var lane = Vector512<int>.Indices;
                var m0 = Vector512.LessThan(lane, Vector512.Create(cols)).AsSingle();
                var m1 = Vector512.LessThan(lane, Vector512.Create(cols - 16)).AsSingle();
                for (int p = 0; p < kc; p++, d += 32, s += j.Ldb)
                {
                    Vector512.Store(Avx512F.MaskLoad(s, m0, default), d);
                    Vector512.Store(Avx512F.MaskLoad(s + 16, m1, default), d + 16);
                }
            }
            else
                for (int p = 0; p < kc; p++, d += nr, s += j.Ldb)
                {
                    new ReadOnlySpan<float>(s, cols).CopyTo(new Span<float>(d, cols));
                    new Span<float>(d + cols, nr - cols).Clear();
                }
        }
        else
        {
            // B stored n×k: column c of the panel is row j0+c of B; transpose 8 rows × 8 k at a time.
            float* s = j.B + (long)j0 * j.Ldb + pc;
            int p = 0;
            if (cols == nr && Avx.IsSupported)
                for (; p + 8 <= kc; p += 8)
                    for (int g = 0; g < nr; g += 8)
                        Transpose8x8(s + (long)g * j.Ldb + p, j.Ldb, d + p * nr + g, nr);
            for (; p < kc; p++)
                for (int c = 0; c < nr; c++) d[p * nr + c] = c < cols ? s[(long)c * j.Ldb + p] : 0f;
        }
    }

    /// <summary><see cref="PackBPanel"/> for a bf16 B: the same panel, each value widened exactly as it is copied.</summary>
    static void PackBPanelBf16(ref Problem j, int pc, int kc, int j0, int cols, float* d)
    {
        int nr = j.Nr, p = 0;
        if (!j.TransB)
        {
            ushort* s = j.B16 + (long)pc * j.Ldb + j0;
            if (cols == nr && Avx2.IsSupported)
                for (; p < kc; p++, d += nr, s += j.Ldb)
                    for (int c = 0; c < nr; c += 8) Avx.Store(d + c, Widen8(s + c));
            for (; p < kc; p++, d += nr, s += j.Ldb)
                for (int c = 0; c < nr; c++) d[c] = c < cols ? BFloat16.ToFloat(s[c]) : 0f;
        }
        else
        {
            ushort* s = j.B16 + (long)j0 * j.Ldb + pc;
            if (cols == nr && Avx2.IsSupported)
                for (; p + 8 <= kc; p += 8)
                    for (int g = 0; g < nr; g += 8)
                        Transpose8x8(s + (long)g * j.Ldb + p, j.Ldb, d + p * nr + g, nr);
            for (; p < kc; p++)
                for (int c = 0; c < nr; c++) d[p * nr + c] = c < cols ? BFloat16.ToFloat(s[(long)c * j.Ldb + p]) : 0f;
        }
    }

    /// <summary>dst[c·ldd + r] = src[r·lds + c] for r &lt; rows, c &lt; cols: 8×8 blocks with AVX, scalar edges.</summary>
    static void TransposeCopy(float* src, long lds, int rows, int cols, float* dst, long ldd)
    {
        int r = 0;
        if (Avx.IsSupported)
            for (; r + 8 <= rows; r += 8)
            {
                int c = 0;
                for (; c + 8 <= cols; c += 8) Transpose8x8(src + r * lds + c, lds, dst + c * ldd + r, ldd);
                for (; c < cols; c++)
                    for (int rr = r; rr < r + 8; rr++) dst[c * ldd + rr] = src[rr * lds + c];
            }
        for (; r < rows; r++)
            for (int c = 0; c < cols; c++) dst[c * ldd + r] = src[r * lds + c];
    }

    /// <summary>dst[q·dstStride + r] = src[r·srcStride + q] for r, q in 0..8 (AVX unpack/shuffle/permute network).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose8x8(float* src, long srcStride, float* dst, long dstStride) => Transpose8x8(
        Avx.LoadVector256(src), Avx.LoadVector256(src + srcStride), Avx.LoadVector256(src + 2 * srcStride), Avx.LoadVector256(src + 3 * srcStride),
        Avx.LoadVector256(src + 4 * srcStride), Avx.LoadVector256(src + 5 * srcStride), Avx.LoadVector256(src + 6 * srcStride), Avx.LoadVector256(src + 7 * srcStride),
        dst, dstStride);

    /// <summary>Eight bf16 rows of eight values (src[r·srcStride + q]) widened and transposed: dst[q·dstStride + r].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose8x8(ushort* src, long srcStride, float* dst, long dstStride) => Transpose8x8(
        Widen8(src), Widen8(src + srcStride), Widen8(src + 2 * srcStride), Widen8(src + 3 * srcStride),
        Widen8(src + 4 * srcStride), Widen8(src + 5 * srcStride), Widen8(src + 6 * srcStride), Widen8(src + 7 * srcStride),
        dst, dstStride);

    /// <summary>Eight bf16 values widened exactly (a 16-bit shift).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Widen8(ushort* p) => Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Sse2.LoadVector128(p)), 16).AsSingle();

    /// <summary>The rows r0..r7 transposed into dst[q·dstStride + r].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose8x8(Vector256<float> r0, Vector256<float> r1, Vector256<float> r2, Vector256<float> r3,
        Vector256<float> r4, Vector256<float> r5, Vector256<float> r6, Vector256<float> r7, float* dst, long dstStride)
    {
        // Interleave pairs of rows: t0 = a0 b0 a1 b1 | a4 b4 a5 b5, t1 = a2 b2 a3 b3 | a6 b6 a7 b7, ...
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        // Combine to four-row columns within each 128-bit lane: u0 = a0 b0 c0 d0 | a4 b4 c4 d4, ...
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        // Join the lanes of rows 0–3 and 4–7.
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + dstStride, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * dstStride, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * dstStride, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * dstStride, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * dstStride, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * dstStride, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * dstStride, Avx.Permute2x128(u3, u7, 0x31));
    }

    // ---- micro-kernels ----

    /// <summary>
    /// C[8×32] = alpha·(A panel · B panel) + beta·C (beta == 0: C not read). Sixteen zmm accumulators; per k step two
    /// B loads, eight broadcasts, sixteen FMAs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Kernel8x32(int kc, float* a, float* b, long bs, float* c, int ldc, float alpha, float beta, int rows, int cols)
    {
        // C is touched only after the k loop; for a large C the tile is out of cache by then, and sixteen misses at
        // the end of every tile cost ~10% at 1024³. Prefetching it now overlaps them with the multiply-adds.
        PrefetchTile(c, ldc);
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default, c70 = default, c71 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var av = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(av, b0, c00); c01 = Vector512.FusedMultiplyAdd(av, b1, c01);
            av = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(av, b0, c10); c11 = Vector512.FusedMultiplyAdd(av, b1, c11);
            av = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(av, b0, c20); c21 = Vector512.FusedMultiplyAdd(av, b1, c21);
            av = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(av, b0, c30); c31 = Vector512.FusedMultiplyAdd(av, b1, c31);
            av = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(av, b0, c40); c41 = Vector512.FusedMultiplyAdd(av, b1, c41);
            av = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(av, b0, c50); c51 = Vector512.FusedMultiplyAdd(av, b1, c51);
            av = Vector512.Create(a[6]);
            c60 = Vector512.FusedMultiplyAdd(av, b0, c60); c61 = Vector512.FusedMultiplyAdd(av, b1, c61);
            av = Vector512.Create(a[7]);
            c70 = Vector512.FusedMultiplyAdd(av, b0, c70); c71 = Vector512.FusedMultiplyAdd(av, b1, c71);
            a += 8;
            b += bs;
        }
        var va = Vector512.Create(alpha);
        if (rows == 8 && cols == 32)
        {
            Store512(c, va, beta, c00, c01);
            Store512(c + ldc, va, beta, c10, c11);
            Store512(c + 2 * ldc, va, beta, c20, c21);
            Store512(c + 3 * ldc, va, beta, c30, c31);
            Store512(c + 4 * ldc, va, beta, c40, c41);
            Store512(c + 5 * ldc, va, beta, c50, c51);
            Store512(c + 6 * ldc, va, beta, c60, c61);
            Store512(c + 7 * ldc, va, beta, c70, c71);
            return;
        }
        // Partial tile at the matrix edge: the same arithmetic, but only rows < rows and columns < cols are read
        // and written (masked loads and stores), so results do not depend on where tile boundaries fall.
        var lane = Vector512<int>.Indices;
        var m0 = Vector512.LessThan(lane, Vector512.Create(cols)).AsSingle();
        var m1 = Vector512.LessThan(lane, Vector512.Create(cols - 16)).AsSingle();
        StoreMasked512(c, va, beta, c00, c01, m0, m1);
        if (rows > 1) StoreMasked512(c + ldc, va, beta, c10, c11, m0, m1);
        if (rows > 2) StoreMasked512(c + 2 * ldc, va, beta, c20, c21, m0, m1);
        if (rows > 3) StoreMasked512(c + 3 * ldc, va, beta, c30, c31, m0, m1);
        if (rows > 4) StoreMasked512(c + 4 * ldc, va, beta, c40, c41, m0, m1);
        if (rows > 5) StoreMasked512(c + 5 * ldc, va, beta, c50, c51, m0, m1);
        if (rows > 6) StoreMasked512(c + 6 * ldc, va, beta, c60, c61, m0, m1);
        if (rows > 7) StoreMasked512(c + 7 * ldc, va, beta, c70, c71, m0, m1);
    }

    /// <summary>
    /// The left half of <see cref="Kernel8x32"/> for a last panel with at most 16 real columns: the same operations on
    /// those columns (the B panel keeps its 32-float stride), so each element comes out bit-identical.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Kernel8x16(int kc, float* a, float* b, long bs, float* c, int ldc, float alpha, float beta, int rows, int cols)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a[0]), b0, c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a[1]), b0, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a[2]), b0, c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a[3]), b0, c3);
            c4 = Vector512.FusedMultiplyAdd(Vector512.Create(a[4]), b0, c4);
            c5 = Vector512.FusedMultiplyAdd(Vector512.Create(a[5]), b0, c5);
            c6 = Vector512.FusedMultiplyAdd(Vector512.Create(a[6]), b0, c6);
            c7 = Vector512.FusedMultiplyAdd(Vector512.Create(a[7]), b0, c7);
            a += 8;
            b += bs;
        }
        var va = Vector512.Create(alpha);
        var m0 = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(cols)).AsSingle();
        StoreMasked16(c, va, beta, c0, m0);
        if (rows > 1) StoreMasked16(c + ldc, va, beta, c1, m0);
        if (rows > 2) StoreMasked16(c + 2 * ldc, va, beta, c2, m0);
        if (rows > 3) StoreMasked16(c + 3 * ldc, va, beta, c3, m0);
        if (rows > 4) StoreMasked16(c + 4 * ldc, va, beta, c4, m0);
        if (rows > 5) StoreMasked16(c + 5 * ldc, va, beta, c5, m0);
        if (rows > 6) StoreMasked16(c + 6 * ldc, va, beta, c6, m0);
        if (rows > 7) StoreMasked16(c + 7 * ldc, va, beta, c7, m0);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreMasked16(float* c, Vector512<float> alpha, float beta, Vector512<float> x, Vector512<float> m)
    {
        Vector512<float> o = default;
        if (beta != 0)
        {
            o = Avx512F.MaskLoad(c, m, default);
            if (beta != 1) o *= Vector512.Create(beta);
        }
        Avx512F.MaskStore(c, m, Vector512.FusedMultiplyAdd(alpha, x, o));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PrefetchTile(float* c, long ldc)
    {
        if (!Sse.IsSupported) return;
        for (int r = 0; r < 8; r++)
        {
            Sse.Prefetch0(c + r * ldc);
            Sse.Prefetch0(c + r * ldc + 16);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreMasked512(float* c, Vector512<float> alpha, float beta, Vector512<float> x0, Vector512<float> x1,
        Vector512<float> m0, Vector512<float> m1)
    {
        Vector512<float> o0, o1;
        if (beta == 0) { o0 = default; o1 = default; }
        else
        {
            o0 = Avx512F.MaskLoad(c, m0, default);
            o1 = Avx512F.MaskLoad(c + 16, m1, default);
            if (beta != 1) { var vb = Vector512.Create(beta); o0 *= vb; o1 *= vb; }
        }
        Avx512F.MaskStore(c, m0, Vector512.FusedMultiplyAdd(alpha, x0, o0));
        Avx512F.MaskStore(c + 16, m1, Vector512.FusedMultiplyAdd(alpha, x1, o1));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store512(float* c, Vector512<float> alpha, float beta, Vector512<float> x0, Vector512<float> x1)
    {
        Vector512<float> o0, o1;
        if (beta == 0) { o0 = default; o1 = default; }
        else if (beta == 1) { o0 = Vector512.Load(c); o1 = Vector512.Load(c + 16); }
        else { var vb = Vector512.Create(beta); o0 = Vector512.Load(c) * vb; o1 = Vector512.Load(c + 16) * vb; }
        Vector512.Store(Vector512.FusedMultiplyAdd(alpha, x0, o0), c);
        Vector512.Store(Vector512.FusedMultiplyAdd(alpha, x1, o1), c + 16);
    }

    /// <summary>The AVX2 counterpart of <see cref="Kernel8x32"/>: 6×16 tile in twelve ymm accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Kernel6x16(int kc, float* a, float* b, float* c, int ldc, float alpha, float beta)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var av = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(av, b0, c00); c01 = Vector256.FusedMultiplyAdd(av, b1, c01);
            av = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(av, b0, c10); c11 = Vector256.FusedMultiplyAdd(av, b1, c11);
            av = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(av, b0, c20); c21 = Vector256.FusedMultiplyAdd(av, b1, c21);
            av = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(av, b0, c30); c31 = Vector256.FusedMultiplyAdd(av, b1, c31);
            av = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(av, b0, c40); c41 = Vector256.FusedMultiplyAdd(av, b1, c41);
            av = Vector256.Create(a[5]);
            c50 = Vector256.FusedMultiplyAdd(av, b0, c50); c51 = Vector256.FusedMultiplyAdd(av, b1, c51);
            a += 6;
            b += 16;
        }
        var va = Vector256.Create(alpha);
        Store256(c, va, beta, c00, c01);
        Store256(c + ldc, va, beta, c10, c11);
        Store256(c + 2 * ldc, va, beta, c20, c21);
        Store256(c + 3 * ldc, va, beta, c30, c31);
        Store256(c + 4 * ldc, va, beta, c40, c41);
        Store256(c + 5 * ldc, va, beta, c50, c51);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store256(float* c, Vector256<float> alpha, float beta, Vector256<float> x0, Vector256<float> x1)
    {
        Vector256<float> o0, o1;
        if (beta == 0) { o0 = default; o1 = default; }
        else if (beta == 1) { o0 = Vector256.Load(c); o1 = Vector256.Load(c + 8); }
        else { var vb = Vector256.Create(beta); o0 = Vector256.Load(c) * vb; o1 = Vector256.Load(c + 8) * vb; }
        Vector256.Store(Vector256.FusedMultiplyAdd(alpha, x0, o0), c);
        Vector256.Store(Vector256.FusedMultiplyAdd(alpha, x1, o1), c + 8);
    }

    // =====================================================================================================
    // Matrix-vector path (m == 1 or n == 1)
    // =====================================================================================================
    // Packing would cost as much as the product itself, so these read the operands in place. Two inner loops
    // cover all four layouts:
    //   RowStream:  y[j] = Σ_p x[p]·M[p, j]   — stream the rows of M into vector accumulators of outputs;
    //   RowDot:     y[j] = Σ_p x[p]·M[j, p]   — dot products of contiguous rows of M with x (rows ahead prefetched:
    //               a decode-time weight matrix comes from DRAM, in 2 KiB rows the hardware prefetchers follow poorly).
    // m == 1:  x = the row of op(A);    M = B (RowStream) or B stored n×k (RowDot).
    // n == 1:  x = the column of op(B); M = A stored k×m (RowStream) or A stored m×k (RowDot).
    // Threads split the outputs; each output's arithmetic is the same whichever thread computes it.

    struct MatVecJob
    {
        public float* X, M, C;
        public long Ld;      // row stride of M
        public long Cs;      // element stride of the outputs in C
        public int K, N;
        public float Alpha, Beta;
        public bool Dot, V512;
        public int Parts, Units, Unit;
    }

    static void MatVec(ref Problem pr, WorkerPool? pool, int threads)
    {
        int k = pr.K;
        var job = new MatVecJob { K = k, Alpha = pr.Alpha, Beta = pr.Beta, C = pr.C, V512 = pr.V512 };
        float* x;
        long xs;                       // element stride of x in its source
        if (pr.M == 1)
        {
            x = pr.A; xs = pr.TransA ? pr.Lda : 1;
            job.M = pr.B; job.Ld = pr.Ldb; job.Dot = pr.TransB; job.N = pr.N; job.Cs = 1;
        }
        else
        {
            x = pr.B; xs = pr.TransB ? 1 : pr.Ldb;
            job.M = pr.A; job.Ld = pr.Lda; job.Dot = !pr.TransA; job.N = pr.M; job.Cs = pr.Ldc;
        }
        // A strided x is copied once so the inner loops read it contiguously.
        if (xs != 1 && k > 1)
        {
            float* t = PackBuffers.Get(0, 0).Vector(k);
            for (int p = 0; p < k; p++) t[p] = x[p * xs];
            x = t;
        }
        job.X = x;

        // Work units of 4 outputs (RowDot) or one vector of outputs (RowStream); at least ~16K multiply-adds per part.
        job.Unit = job.Dot ? 4 : (job.V512 ? 16 : 8);
        job.Units = (job.N + job.Unit - 1) / job.Unit;
        int parts = threads > 1 ? (int)Math.Min(threads, Math.Max(1, (long)job.N * k / (16 * 1024))) : 1;
        job.Parts = Math.Min(parts, job.Units);
        if (job.Parts <= 1) { MatVecRange(ref job, 0, job.N); return; }
        pool!.For(job.Parts, &MatVecPart, &job);
    }

    static void MatVecPart(void* state, int part)
    {
        ref MatVecJob j = ref Unsafe.AsRef<MatVecJob>(state);
        int j0 = (int)((long)j.Units * part / j.Parts) * j.Unit;
        int j1 = Math.Min(j.N, (int)((long)j.Units * (part + 1) / j.Parts) * j.Unit);
        if (j0 < j1) MatVecRange(ref j, j0, j1);
    }

    static void MatVecRange(ref MatVecJob j, int j0, int j1)
    {
        if (j.Dot)
        {
            if (j.V512) RowDot512(j.X, j.M, j.Ld, j.K, j0, j1, j.C, j.Cs, j.Alpha, j.Beta);
            else RowDot256(j.X, j.M, j.Ld, j.K, j0, j1, j.C, j.Cs, j.Alpha, j.Beta);
        }
        else
        {
            // Two kernels with bit-identical results (each output summed in p order, one FMA per step, from zero):
            // register chunks of 128 outputs suit a wide range over rows not too far apart; otherwise (narrow
            // ranges, or rows ≥ 16 KiB apart, where each of the chunk's row segments is a TLB miss) stream whole
            // rows into an accumulator vector in L1. Measured: 1×8192×512 30 → 48 GFLOP/s, 1×100×1000 24 → 56.
            if (j.V512 && j1 - j0 >= 128 && j.Ld <= 4096) RowStream512(j.X, j.M, j.Ld, j.K, j0, j1, j.C, j.Cs, j.Alpha, j.Beta);
            else if (j.V512) RowStreamRows512(j.X, j.M, j.Ld, j.K, j0, j1, j.C, j.Cs, j.Alpha, j.Beta);
            else RowStream256(j.X, j.M, j.Ld, j.K, j0, j1, j.C, j.Cs, j.Alpha, j.Beta);
        }
    }

    /// <summary>y[j] = Σ_p x[p]·M[p·ld + j] for j in [j0, j1), four rows of M at a time streamed whole into an
    /// accumulator vector y kept in L1; the same per-output operations as <see cref="RowStream512"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RowStreamRows512(float* x, float* mat, long ld, int k, int j0, int j1, float* c, long cs, float alpha, float beta)
    {
        int n = j1 - j0;
        float* y = PackBuffers.Get(0, 0).Y(n + 16);
        new Span<float>(y, n).Clear();
        int nv = n & ~15;
        var tailMask = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(n - nv)).AsSingle();
        float* r = mat + j0;
        int p = 0;
        for (; p + 4 <= k; p += 4, r += 4 * ld)
        {
            var x0 = Vector512.Create(x[p]); var x1 = Vector512.Create(x[p + 1]);
            var x2 = Vector512.Create(x[p + 2]); var x3 = Vector512.Create(x[p + 3]);
            float* r0 = r, r1 = r + ld, r2 = r + 2 * ld, r3 = r + 3 * ld;
            int q = 0;
            for (; q < nv; q += 16)
            {
                var v = Vector512.Load(y + q);
                v = Vector512.FusedMultiplyAdd(x0, Vector512.Load(r0 + q), v);
                v = Vector512.FusedMultiplyAdd(x1, Vector512.Load(r1 + q), v);
                v = Vector512.FusedMultiplyAdd(x2, Vector512.Load(r2 + q), v);
                v = Vector512.FusedMultiplyAdd(x3, Vector512.Load(r3 + q), v);
                v.Store(y + q);
            }
            if (q < n)
            {
                var v = Vector512.Load(y + q);
                v = Vector512.FusedMultiplyAdd(x0, Avx512F.MaskLoad(r0 + q, tailMask, default), v);
                v = Vector512.FusedMultiplyAdd(x1, Avx512F.MaskLoad(r1 + q, tailMask, default), v);
                v = Vector512.FusedMultiplyAdd(x2, Avx512F.MaskLoad(r2 + q, tailMask, default), v);
                v = Vector512.FusedMultiplyAdd(x3, Avx512F.MaskLoad(r3 + q, tailMask, default), v);
                v.Store(y + q);
            }
        }
        for (; p < k; p++, r += ld)
        {
            var x0 = Vector512.Create(x[p]);
            int q = 0;
            for (; q < nv; q += 16) Vector512.FusedMultiplyAdd(x0, Vector512.Load(r + q), Vector512.Load(y + q)).Store(y + q);
            if (q < n) Vector512.FusedMultiplyAdd(x0, Avx512F.MaskLoad(r + q, tailMask, default), Vector512.Load(y + q)).Store(y + q);
        }
        for (int t = 0; t < n; t++) WriteOut(c + (j0 + t) * cs, alpha, beta, y[t]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void WriteOut(float* c, float alpha, float beta, float y)
        => *c = beta == 0 ? alpha * y : MathF.FusedMultiplyAdd(alpha, y, beta * *c);

    /// <summary>y[j] = Σ_p x[p]·M[p·ld + j] for j in [j0, j1): every output is summed in p order, one FMA per step,
    /// whether it sits in an 8-vector chunk, a single vector or the scalar tail.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RowStream512(float* x, float* mat, long ld, int k, int j0, int j1, float* c, long cs, float alpha, float beta)
    {
        float* y = stackalloc float[128];
        int j = j0;
        // Chunks of 128 outputs: eight independent zmm accumulators hide the FMA latency.
        for (; j + 128 <= j1; j += 128)
        {
            Vector512<float> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
            float* r = mat + j;
            for (int p = 0; p < k; p++, r += ld)
            {
                var xv = Vector512.Create(x[p]);
                s0 = Vector512.FusedMultiplyAdd(xv, Vector512.Load(r), s0);
                s1 = Vector512.FusedMultiplyAdd(xv, Vector512.Load(r + 16), s1);
                s2 = Vector512.FusedMultiplyAdd(xv, Vector512.Load(r + 32), s2);
                s3 = Vector512.FusedMultiplyAdd(xv, Vector512.Load(r + 48), s3);
                s4 = Vector512.FusedMultiplyAdd(xv, Vector512.Load(r + 64), s4);
                s5 = Vector512.FusedMultiplyAdd(xv, Vector512.Load(r + 80), s5);
                s6 = Vector512.FusedMultiplyAdd(xv, Vector512.Load(r + 96), s6);
                s7 = Vector512.FusedMultiplyAdd(xv, Vector512.Load(r + 112), s7);
            }
            s0.Store(y); s1.Store(y + 16); s2.Store(y + 32); s3.Store(y + 48);
            s4.Store(y + 64); s5.Store(y + 80); s6.Store(y + 96); s7.Store(y + 112);
            for (int t = 0; t < 128; t++) WriteOut(c + (j + t) * cs, alpha, beta, y[t]);
        }
        for (; j + 16 <= j1; j += 16)
        {
            Vector512<float> s0 = default;
            float* r = mat + j;
            for (int p = 0; p < k; p++, r += ld)
                s0 = Vector512.FusedMultiplyAdd(Vector512.Create(x[p]), Vector512.Load(r), s0);
            s0.Store(y);
            for (int t = 0; t < 16; t++) WriteOut(c + (j + t) * cs, alpha, beta, y[t]);
        }
        StreamTail(x, mat, ld, k, j, j1, c, cs, alpha, beta);
    }

    /// <summary>The Vector256 form of <see cref="RowStream512"/> (chunks of 64 outputs in 8 ymm accumulators).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RowStream256(float* x, float* mat, long ld, int k, int j0, int j1, float* c, long cs, float alpha, float beta)
    {
        float* y = stackalloc float[64];
        int j = j0;
        for (; j + 64 <= j1; j += 64)
        {
            Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default, s4 = default, s5 = default, s6 = default, s7 = default;
            float* r = mat + j;
            for (int p = 0; p < k; p++, r += ld)
            {
                var xv = Vector256.Create(x[p]);
                s0 = Vector256.FusedMultiplyAdd(xv, Vector256.Load(r), s0);
                s1 = Vector256.FusedMultiplyAdd(xv, Vector256.Load(r + 8), s1);
                s2 = Vector256.FusedMultiplyAdd(xv, Vector256.Load(r + 16), s2);
                s3 = Vector256.FusedMultiplyAdd(xv, Vector256.Load(r + 24), s3);
                s4 = Vector256.FusedMultiplyAdd(xv, Vector256.Load(r + 32), s4);
                s5 = Vector256.FusedMultiplyAdd(xv, Vector256.Load(r + 40), s5);
                s6 = Vector256.FusedMultiplyAdd(xv, Vector256.Load(r + 48), s6);
                s7 = Vector256.FusedMultiplyAdd(xv, Vector256.Load(r + 56), s7);
            }
            s0.Store(y); s1.Store(y + 8); s2.Store(y + 16); s3.Store(y + 24);
            s4.Store(y + 32); s5.Store(y + 40); s6.Store(y + 48); s7.Store(y + 56);
            for (int t = 0; t < 64; t++) WriteOut(c + (j + t) * cs, alpha, beta, y[t]);
        }
        for (; j + 8 <= j1; j += 8)
        {
            Vector256<float> s0 = default;
            float* r = mat + j;
            for (int p = 0; p < k; p++, r += ld)
                s0 = Vector256.FusedMultiplyAdd(Vector256.Create(x[p]), Vector256.Load(r), s0);
            s0.Store(y);
            for (int t = 0; t < 8; t++) WriteOut(c + (j + t) * cs, alpha, beta, y[t]);
        }
        StreamTail(x, mat, ld, k, j, j1, c, cs, alpha, beta);
    }

    static void StreamTail(float* x, float* mat, long ld, int k, int j, int j1, float* c, long cs, float alpha, float beta)
    {
        for (; j < j1; j++)
        {
            float s = 0;
            float* r = mat + j;
            for (int p = 0; p < k; p++, r += ld) s = MathF.FusedMultiplyAdd(x[p], *r, s);
            WriteOut(c + j * cs, alpha, beta, s);
        }
    }

    /// <summary>How many rows ahead the two-to-four-row bf16 path (<see cref="Bf16Range"/>) prefetches its four rows of W
    /// into L2 (tuned when the float32 matrix-vector kernel read four rows at a time: 8 and 32 rows ahead were no better).</summary>
    const int MatVecPrefetchRows = 16;

    /// <summary>
    /// y[j] = Σ_p x[p]·M[j·ld + p] for j in [j0, j1): one row at a time, so each thread reads M as one stream,
    /// prefetched <see cref="StreamPrefetchBytes"/> ahead (as <see cref="RowDot512Bf16"/>, whose arithmetic this is); two
    /// accumulators a row (even and odd 16-float blocks), summed, then the tail one scalar FMA at a time. The two are not
    /// one generic kernel over <see cref="IRowsOfB"/>: that form read the LM head 3–15 % slower in eight alternated
    /// `fewrows --rows 1` pairs.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RowDot512(float* x, float* mat, long ld, int k, int j0, int j1, float* c, long cs, float alpha, float beta)
    {
        for (int j = j0; j < j1; j++)
        {
            float* r = mat + j * ld;
            Vector512<float> a = default, b = default;
            int p = 0;
            for (; p + 32 <= k; p += 32)
            {
                Sse.Prefetch0((byte*)(r + p) + StreamPrefetchBytes);   // hints: never fault, even past the end of M
                Sse.Prefetch0((byte*)(r + p + 16) + StreamPrefetchBytes);
                a = Vector512.FusedMultiplyAdd(Vector512.Load(x + p), Vector512.Load(r + p), a);
                b = Vector512.FusedMultiplyAdd(Vector512.Load(x + p + 16), Vector512.Load(r + p + 16), b);
            }
            if (p + 16 <= k)
            {
                a = Vector512.FusedMultiplyAdd(Vector512.Load(x + p), Vector512.Load(r + p), a);
                p += 16;
            }
            float s = Vector512.Sum(a + b);
            for (; p < k; p++) s = MathF.FusedMultiplyAdd(x[p], r[p], s);
            WriteOut(c + j * cs, alpha, beta, s);
        }
    }

    /// <summary>The Vector256 form of <see cref="RowDot512"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RowDot256(float* x, float* mat, long ld, int k, int j0, int j1, float* c, long cs, float alpha, float beta)
    {
        for (int j = j0; j < j1; j += 4)
        {
            int rows = Math.Min(4, j1 - j);
            float* r0 = mat + j * ld;
            float* r1 = mat + (j + Math.Min(1, rows - 1)) * ld;
            float* r2 = mat + (j + Math.Min(2, rows - 1)) * ld;
            float* r3 = mat + (j + Math.Min(3, rows - 1)) * ld;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
            int p = 0;
            for (; p + 16 <= k; p += 16)
            {
                var x0 = Vector256.Load(x + p);
                var x1 = Vector256.Load(x + p + 8);
                a0 = Vector256.FusedMultiplyAdd(x0, Vector256.Load(r0 + p), a0);
                a1 = Vector256.FusedMultiplyAdd(x0, Vector256.Load(r1 + p), a1);
                a2 = Vector256.FusedMultiplyAdd(x0, Vector256.Load(r2 + p), a2);
                a3 = Vector256.FusedMultiplyAdd(x0, Vector256.Load(r3 + p), a3);
                b0 = Vector256.FusedMultiplyAdd(x1, Vector256.Load(r0 + p + 8), b0);
                b1 = Vector256.FusedMultiplyAdd(x1, Vector256.Load(r1 + p + 8), b1);
                b2 = Vector256.FusedMultiplyAdd(x1, Vector256.Load(r2 + p + 8), b2);
                b3 = Vector256.FusedMultiplyAdd(x1, Vector256.Load(r3 + p + 8), b3);
            }
            if (p + 8 <= k)
            {
                var x0 = Vector256.Load(x + p);
                a0 = Vector256.FusedMultiplyAdd(x0, Vector256.Load(r0 + p), a0);
                a1 = Vector256.FusedMultiplyAdd(x0, Vector256.Load(r1 + p), a1);
                a2 = Vector256.FusedMultiplyAdd(x0, Vector256.Load(r2 + p), a2);
                a3 = Vector256.FusedMultiplyAdd(x0, Vector256.Load(r3 + p), a3);
                p += 8;
            }
            float s0 = Vector256.Sum(a0 + b0), s1 = Vector256.Sum(a1 + b1), s2 = Vector256.Sum(a2 + b2), s3 = Vector256.Sum(a3 + b3);
            DotTail(x, r0, r1, r2, r3, p, k, ref s0, ref s1, ref s2, ref s3);
            DotOut(c, cs, j, rows, alpha, beta, s0, s1, s2, s3);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void DotTail(float* x, float* r0, float* r1, float* r2, float* r3, int p, int k,
        ref float s0, ref float s1, ref float s2, ref float s3)
    {
        for (; p < k; p++)
        {
            float xp = x[p];
            s0 = MathF.FusedMultiplyAdd(xp, r0[p], s0);
            s1 = MathF.FusedMultiplyAdd(xp, r1[p], s1);
            s2 = MathF.FusedMultiplyAdd(xp, r2[p], s2);
            s3 = MathF.FusedMultiplyAdd(xp, r3[p], s3);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void DotOut(float* c, long cs, int j, int rows, float alpha, float beta, float s0, float s1, float s2, float s3)
    {
        WriteOut(c + j * cs, alpha, beta, s0);
        if (rows > 1) WriteOut(c + (j + 1) * cs, alpha, beta, s1);
        if (rows > 2) WriteOut(c + (j + 2) * cs, alpha, beta, s2);
        if (rows > 3) WriteOut(c + (j + 3) * cs, alpha, beta, s3);
    }

    // =====================================================================================================
    // Unpacked path (AVX-512): operands read where they lie
    // =====================================================================================================
    // Packing B pays off only when each packed element is used by many rows; with few rows (decoding a handful of
    // sequences) it costs as much as the multiply. And when B is stored k×n and k is moderate, B need not be packed
    // at all: a k×64 column chunk of B stays in L2 while groups of four rows of A stream past it.
    //   B stored k×n: a 4-row × 64-column tile in 16 accumulators; per k step four B vectors from row p of B and
    //                 four broadcasts of A (either layout); each output is one FMA chain over all of k, C written once.
    //                 Measured at 1 thread: ~110 GFLOP/s (95% of the FMA peak) for 4..128 × 768 × 768, where the
    //                 packed path reaches ~100; the packed path wins back once k > ~1024 (the chunk leaves L2).
    //   B stored n×k: 4 rows of op(A) against 4 rows of B as 16 dot products over k (16 floats per step, masked
    //                 tail) in 16 accumulators, reduced together at the end by a transposing shuffle tree. B (a
    //                 weight matrix when decoding) is read from memory once, four rows at a time, with software
    //                 prefetches two groups ahead spread over the k loops so the loads overlap the multiply-adds.
    //                 Measured at 1 thread, m = 16: ~105 GFLOP/s (90% of peak) with B in cache, 85..95 with B
    //                 streamed from DRAM (the old kernel: 85 and 45); better than packing up to m = 64 and beyond.
    // Rows past m in a group of four repeat the last row and are discarded, so every output goes through the same
    // instructions wherever group boundaries fall. Threads split the columns, or the rows when columns are few.
    // The choice of path depends on the shape only (never the thread count), so results stay bit-identical across
    // thread counts.

    /// <summary>m up to which the unpacked path is used whatever k and n are.</summary>
    internal static int SmallRowsMax = 8;
    /// <summary>With B stored n×k, m up to which the dot-product kernel beats packing (measured at 1 thread: m = 64,
    /// n = 1376, k = 512: 111 GFLOP/s against 95 packed; m = 96: 91 against 100).</summary>
    internal static int DotRowsMax = 64;
    /// <summary>With B stored k×n, k up to which a k×64 chunk of B (k·256 bytes) sits comfortably in L2.</summary>
    internal static int StreamMaxK = 1024;
    /// <summary>With B stored k×n, the most floats of A (m·k) for which A stays in L2 across column chunks. At 128 K floats
    /// (512 KiB) 128×3072×768 streamed at 46–94 GFLOP/s on 2 threads against 193–268 packed (three alternated runs of
    /// `Ril.Bench gemm`), so the stream keeps A to a quarter of the 1 MiB L2.</summary>
    internal static long StreamMaxAFloats = 64 * 1024;

    static bool UseUnpacked(ref Problem p)
    {
        if (!p.V512) return false;
        if (p.TransB) return p.M <= DotRowsMax;
        // Beyond a few rows: B's k×64 chunk must fit in L2 (k ≤ StreamMaxK), and so must A (m·k floats ≤ 512 KiB),
        // which every chunk re-reads: from L3 its misses outrun the multiply-adds (2048×8192×512 ran at 60 GFLOP/s
        // instead of 97 on one thread). n ≥ 64 keeps chunks mostly full; narrow products suit the 8×16 packed kernel.
        return p.M <= SmallRowsMax || (p.K <= StreamMaxK && (long)p.M * p.K <= StreamMaxAFloats && p.N >= 64);
    }

    struct UnpackedJob
    {
        public Problem P;
        public float* A;            // op(A) rows: A itself, or a contiguous copy when B is n×k and A is k×m
        public long ARow, ACol;     // element strides of op(A)[i, p] = A[i·ARow + p·ACol]
        public int Unit;            // columns per unit: 64 (stream) or 4 (dot)
        public int RowGroups, ColUnits, Parts;
        public bool SplitRows;
    }

    static void Unpacked(ref Problem p, WorkerPool? pool, int threads)
    {
        var job = new UnpackedJob { P = p, A = p.A, ARow = p.TransA ? 1 : p.Lda, ACol = p.TransA ? p.Lda : 1 };
        if (p.TransA)
        {
            // Both kernels want contiguous rows of op(A): the dot-product kernel loads them as vectors, and the stream
            // kernel, reading A stored k×m in place, would touch a new cache line of A at every k step (fine from L2,
            // but latency-bound when A comes from L3, as in a batch of fresh items: 64×64×256 ran at half speed).
            // So copy the m×k transpose once (at most 128K floats by the choice of path when B is k×n; m ≤ 64 rows
            // when B is n×k).
            float* t = PackBuffers.Get(0, 0).Vector((long)p.M * p.K);
            TransposeCopy(p.A, p.Lda, p.K, p.M, t, p.K);
            job.A = t; job.ARow = p.K; job.ACol = 1;
        }
        job.Unit = p.TransB ? 4 : 64;
        job.ColUnits = (p.N + job.Unit - 1) / job.Unit;
        job.RowGroups = (p.M + 3) / 4;
        job.Parts = 1;
        if (threads > 1)
        {
            // Columns when there are enough for every thread (each thread then reads only its part of B), else rows.
            job.SplitRows = job.ColUnits < threads;
            job.Parts = Math.Min(threads, job.SplitRows ? job.RowGroups : job.ColUnits);
        }
        if (job.Parts <= 1) { UnpackedRange(ref job, 0, p.M, 0, p.N); return; }
        pool!.For(job.Parts, &UnpackedPart, &job);
    }

    static void UnpackedPart(void* state, int part)
    {
        ref UnpackedJob j = ref Unsafe.AsRef<UnpackedJob>(state);
        int units = j.SplitRows ? j.RowGroups : j.ColUnits, size = j.SplitRows ? 4 : j.Unit, limit = j.SplitRows ? j.P.M : j.P.N;
        int s0 = (int)((long)units * part / j.Parts) * size;
        int s1 = Math.Min(limit, (int)((long)units * (part + 1) / j.Parts) * size);
        if (s0 >= s1) return;
        if (j.SplitRows) UnpackedRange(ref j, s0, s1, 0, j.P.N);
        else UnpackedRange(ref j, 0, j.P.M, s0, s1);
    }

    static void UnpackedRange(ref UnpackedJob j, int i0, int i1, int j0, int j1)
    {
        if (!j.P.TransB)
        {
            // Column chunks outer: a k×64 chunk of B stays in L2 while every row group passes over it.
            for (int jc = j0; jc < j1; jc += 64)
                for (int i = i0; i < i1; i += 4)
                    SmallRowsStream(ref j, i, Math.Min(4, i1 - i), jc, Math.Min(64, j1 - jc));
        }
        else DotRange(ref j, i0, i1, j0, j1);
    }

    /// <summary>How many groups of four B rows ahead <see cref="DotRange"/> prefetches (1..3 measured within 10%;
    /// with 1 the last rows of the next group arrive barely in time).</summary>
    internal static int DotPrefetchGroups = 2;

    /// <summary>
    /// C[i0..i1, j0..j1) with B stored n×k. Groups of four B rows outer: read from memory once, then kept in L1/L2
    /// while every group of four A rows meets them, each 4×4 tile one <see cref="Dot4x4{TPf, TB}"/>. The B group
    /// <see cref="DotPrefetchGroups"/> ahead is prefetched into L2 a cache line per row per 16-float step, spread so
    /// that about one line goes out per step: with four or more row groups, row group g &lt; 4 prefetches row g; with
    /// two or three, row groups 0 and 1 prefetch two rows each; a lone row group prefetches all four. (The hardware
    /// prefetchers alone left 16×1376×512 at ~45 GFLOP/s on one core with B coming from DRAM: four interleaved
    /// 2 KiB row streams restart at every group and every 4 KiB page. Prefetching into L1 rather than L2 was 20%
    /// slower, and the whole next group at the start of a group, 25% slower.)
    /// </summary>
    static void DotRange(ref UnpackedJob j, int i0, int i1, int j0, int j1)
    {
        ref Problem p = ref j.P;
        long ar = j.ARow, ldb = p.Ldb, ldc = p.Ldc;
        int k = p.K;
        float* res = stackalloc float[16];
        int groups = (i1 - i0 + 3) / 4;
        for (int jb = j0; jb < j1; jb += 4)
        {
            int cols = Math.Min(4, j1 - jb);
            float* b0 = p.B + jb * ldb;
            float* b1 = p.B + (jb + Math.Min(1, cols - 1)) * ldb;
            float* b2 = p.B + (jb + Math.Min(2, cols - 1)) * ldb;
            float* b3 = p.B + (jb + Math.Min(3, cols - 1)) * ldb;
            // The group ahead, clamped to this range (near its end the prefetches re-touch rows already fetched).
            int jp = Math.Min(jb + 4 * DotPrefetchGroups, j1 - 1);
            float* pf = p.B + jp * ldb;
            long pfRow = jp + 3 < j1 ? ldb : 0;
            for (int g = 0, i = i0; i < i1; g++, i += 4)
            {
                int rows = Math.Min(4, i1 - i);
                float* a0 = j.A + i * ar;
                float* a1 = j.A + (i + Math.Min(1, rows - 1)) * ar;
                float* a2 = j.A + (i + Math.Min(2, rows - 1)) * ar;
                float* a3 = j.A + (i + Math.Min(3, rows - 1)) * ar;
                Vector512<float> s;
                if (groups == 1)
                    s = Dot4x4<Four, F32Rows>(k, a0, a1, a2, a3, b0, b1, b2, b3, pf, pf + pfRow, pf + 2 * pfRow, pf + 3 * pfRow);
                else
                {
                    // Row groups with nothing to prefetch re-touch their own B rows (L1 hits).
                    float* q0, q1;
                    if (groups >= 4)
                    {
                        if (g < 4) q0 = q1 = pf + g * pfRow;
                        else { q0 = b0; q1 = b1; }
                    }
                    else if (g == 0) { q0 = pf; q1 = pf + pfRow; }
                    else if (g == 1) { q0 = pf + 2 * pfRow; q1 = pf + 3 * pfRow; }
                    else { q0 = b0; q1 = b1; }
                    s = Dot4x4<Two, F32Rows>(k, a0, a1, a2, a3, b0, b1, b2, b3, q0, q1, null, null);
                }
                float* c = p.C + (long)i * ldc + jb;
                if (rows == 4 && cols == 4)
                {
                    DotStore4(c, p.Alpha, p.Beta, s.GetLower().GetLower());
                    DotStore4(c + ldc, p.Alpha, p.Beta, s.GetLower().GetUpper());
                    DotStore4(c + 2 * ldc, p.Alpha, p.Beta, s.GetUpper().GetLower());
                    DotStore4(c + 3 * ldc, p.Alpha, p.Beta, s.GetUpper().GetUpper());
                }
                else
                {
                    // A partial tile: the same sums, written one by one (the same rounding as DotStore4).
                    s.Store(res);
                    for (int r = 0; r < rows; r++)
                        for (int t = 0; t < cols; t++) WriteOut(c + r * ldc + t, p.Alpha, p.Beta, res[4 * r + t]);
                }
            }
        }
    }

    /// <summary>Type arguments of <see cref="Dot4x4{TPf, TB}"/>: prefetch two cache lines per step, four, or none.</summary>
    struct Two { }
    struct Four { }
    struct None { }

    /// <summary>How a 4×4 kernel reads sixteen values of a row of B at offset q: float32 rows, or bf16 rows widened in a register.</summary>
    interface IRowsOfB
    {
        static abstract Vector512<float> Load(void* row, int q);
        /// <summary>The last <paramref name="count"/> (&lt; 16) values, the lanes past them zero (<paramref name="mask"/> marks the live lanes).</summary>
        static abstract Vector512<float> LoadTail(void* row, int q, int count, Vector512<float> mask);
        /// <summary>Prefetches into L2 the cache line at offset q (called for every q, a multiple of 16).</summary>
        static abstract void Prefetch(void* row, int q);
    }

    struct F32Rows : IRowsOfB
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(void* row, int q) => Vector512.Load((float*)row + q);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> LoadTail(void* row, int q, int count, Vector512<float> mask) => Avx512F.MaskLoad((float*)row + q, mask, default);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Prefetch(void* row, int q) => Sse.Prefetch1((float*)row + q);
    }

    struct Bf16Rows : IRowsOfB
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(void* row, int q) => Widen((ushort*)row + q);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> LoadTail(void* row, int q, int count, Vector512<float> mask) => WidenTail((ushort*)row + q, count);
        [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Prefetch(void* row, int q) { if ((q & 31) == 0) Sse.Prefetch1((ushort*)row + q); }
    }

    /// <summary>c[0..4) = alpha·s + beta·c (beta == 0: c not read); per element exactly <see cref="WriteOut"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void DotStore4(float* c, float alpha, float beta, Vector128<float> s)
    {
        var va = Vector128.Create(alpha);
        if (beta == 0) (va * s).Store(c);
        else Vector128.FusedMultiplyAdd(va, s, Vector128.Create(beta) * Vector128.Load(c)).Store(c);
    }

    /// <summary>
    /// The sixteen dot products of rows a0..a3 with rows b0..b3 over k, as one vector: lane 4r + c = a_r · b_c.
    /// Each product accumulates in its own zmm (16 floats per step, a masked tail past the last full step), and the
    /// sixteen accumulators are reduced together by a transposing tree (30 shuffles and 15 adds for all sixteen,
    /// instead of a full horizontal sum each). Every lane goes through the same operations in the same order, so a
    /// result does not depend on its place in the tile. Each step prefetches (into L2) the cache line at offset q
    /// from q0 and q1, and from q2 and q3 too when <typeparamref name="TPf"/> is <see cref="Four"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static Vector512<float> Dot4x4<TPf, TB>(int k, float* a0, float* a1, float* a2, float* a3,
        void* b0, void* b1, void* b2, void* b3, void* q0, void* q1, void* q2, void* q3) where TPf : struct where TB : struct, IRowsOfB
    {
        Vector512<float> s00 = default, s01 = default, s02 = default, s03 = default;
        Vector512<float> s10 = default, s11 = default, s12 = default, s13 = default;
        Vector512<float> s20 = default, s21 = default, s22 = default, s23 = default;
        Vector512<float> s30 = default, s31 = default, s32 = default, s33 = default;
        int q = 0;
        for (; q + 16 <= k; q += 16)
        {
            if (typeof(TPf) != typeof(None)) { TB.Prefetch(q0, q); TB.Prefetch(q1, q); }
            if (typeof(TPf) == typeof(Four)) { TB.Prefetch(q2, q); TB.Prefetch(q3, q); }
            var y0 = TB.Load(b0, q); var y1 = TB.Load(b1, q);
            var y2 = TB.Load(b2, q); var y3 = TB.Load(b3, q);
            var x = Vector512.Load(a0 + q);
            s00 = Vector512.FusedMultiplyAdd(x, y0, s00); s01 = Vector512.FusedMultiplyAdd(x, y1, s01);
            s02 = Vector512.FusedMultiplyAdd(x, y2, s02); s03 = Vector512.FusedMultiplyAdd(x, y3, s03);
            x = Vector512.Load(a1 + q);
            s10 = Vector512.FusedMultiplyAdd(x, y0, s10); s11 = Vector512.FusedMultiplyAdd(x, y1, s11);
            s12 = Vector512.FusedMultiplyAdd(x, y2, s12); s13 = Vector512.FusedMultiplyAdd(x, y3, s13);
            x = Vector512.Load(a2 + q);
            s20 = Vector512.FusedMultiplyAdd(x, y0, s20); s21 = Vector512.FusedMultiplyAdd(x, y1, s21);
            s22 = Vector512.FusedMultiplyAdd(x, y2, s22); s23 = Vector512.FusedMultiplyAdd(x, y3, s23);
            x = Vector512.Load(a3 + q);
            s30 = Vector512.FusedMultiplyAdd(x, y0, s30); s31 = Vector512.FusedMultiplyAdd(x, y1, s31);
            s32 = Vector512.FusedMultiplyAdd(x, y2, s32); s33 = Vector512.FusedMultiplyAdd(x, y3, s33);
        }
        if (q < k)
        {
            // Masked tail: lanes past k load as zero and add nothing.
            var m = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(k - q)).AsSingle();
            var y0 = TB.LoadTail(b0, q, k - q, m); var y1 = TB.LoadTail(b1, q, k - q, m);
            var y2 = TB.LoadTail(b2, q, k - q, m); var y3 = TB.LoadTail(b3, q, k - q, m);
            var x = Avx512F.MaskLoad(a0 + q, m, default);
            s00 = Vector512.FusedMultiplyAdd(x, y0, s00); s01 = Vector512.FusedMultiplyAdd(x, y1, s01);
            s02 = Vector512.FusedMultiplyAdd(x, y2, s02); s03 = Vector512.FusedMultiplyAdd(x, y3, s03);
            x = Avx512F.MaskLoad(a1 + q, m, default);
            s10 = Vector512.FusedMultiplyAdd(x, y0, s10); s11 = Vector512.FusedMultiplyAdd(x, y1, s11);
            s12 = Vector512.FusedMultiplyAdd(x, y2, s12); s13 = Vector512.FusedMultiplyAdd(x, y3, s13);
            x = Avx512F.MaskLoad(a2 + q, m, default);
            s20 = Vector512.FusedMultiplyAdd(x, y0, s20); s21 = Vector512.FusedMultiplyAdd(x, y1, s21);
            s22 = Vector512.FusedMultiplyAdd(x, y2, s22); s23 = Vector512.FusedMultiplyAdd(x, y3, s23);
            x = Avx512F.MaskLoad(a3 + q, m, default);
            s30 = Vector512.FusedMultiplyAdd(x, y0, s30); s31 = Vector512.FusedMultiplyAdd(x, y1, s31);
            s32 = Vector512.FusedMultiplyAdd(x, y2, s32); s33 = Vector512.FusedMultiplyAdd(x, y3, s33);
        }
        // Per B row c: halves, then quarters, of the four A rows' accumulators: 128-bit block r = row r, 4 partials.
        var w0 = Fold4(s00, s10, s20, s30);
        var w1 = Fold4(s01, s11, s21, s31);
        var w2 = Fold4(s02, s12, s22, s32);
        var w3 = Fold4(s03, s13, s23, s33);
        return Combine4(w0, w1, w2, w3);
    }

    /// <summary>
    /// The last step of the 4×4 reductions: block r of the result holds the sums of block r of w0…w3, in that order. Within
    /// each 128-bit block: pairs of partials (64-bit halves), then the last pair (shufps). Each sum's tree depends on its
    /// own lanes only, so any kernel that folds its accumulators through <see cref="Fold4"/> and this sums bit for bit alike.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Combine4(Vector512<float> w0, Vector512<float> w1, Vector512<float> w2, Vector512<float> w3)
    {
        var p01 = Avx512F.UnpackLow(w0.AsDouble(), w1.AsDouble()).AsSingle() + Avx512F.UnpackHigh(w0.AsDouble(), w1.AsDouble()).AsSingle();
        var p23 = Avx512F.UnpackLow(w2.AsDouble(), w3.AsDouble()).AsSingle() + Avx512F.UnpackHigh(w2.AsDouble(), w3.AsDouble()).AsSingle();
        return Avx512F.Shuffle(p01, p23, 0x88) + Avx512F.Shuffle(p01, p23, 0xDD);
    }

    /// <summary>Block r of the result holds x_r[j] + x_r[j+8] + (x_r[j+4] + x_r[j+12]) for j &lt; 4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Fold4(Vector512<float> x0, Vector512<float> x1, Vector512<float> x2, Vector512<float> x3)
    {
        var z01 = Avx512F.Shuffle4x128(x0, x1, 0x44) + Avx512F.Shuffle4x128(x0, x1, 0xEE);
        var z23 = Avx512F.Shuffle4x128(x2, x3, 0x44) + Avx512F.Shuffle4x128(x2, x3, 0xEE);
        return Avx512F.Shuffle4x128(z01, z23, 0x88) + Avx512F.Shuffle4x128(z01, z23, 0xDD);
    }

    // =====================================================================================================
    // Few rows against a bf16 weight stored n×k (decoding and rollouts with frozen bf16 weights)
    // =====================================================================================================
    // C = A·Wᵀ for m ≤ DotRowsMax rows of A and W [n, k] in bf16, read in place: the threads split W's rows (in whole groups
    // of four); each row streams from memory once (the rows ahead are prefetched) and the weights are widened exactly in
    // a register right before their FMAs: up to four rows of A against four rows of W (Dot4x4 on bf16 rows, sixteen
    // weights a step); more, eight rows of A against three of W (Dot8x3Bf16, thirty-two weights a step, split into the
    // even- and odd-indexed ones so that a shift and a mask widen them, against rows of A split alike once per call), the
    // later row groups of A finding those rows in L1. W is never written out in float32, not even as a panel. Up to four
    // rows, each output is computed by exactly the operations the float32 path (Dot4x4, or RowDot512 for a single row)
    // applies to the widened weights, so the two agree bit for bit; beyond, the sums are grouped differently (each output
    // still one float32 FMA chain per lane). .NET 10 exposes no AVX512_BF16 intrinsics (vdpbf16ps), so the products are
    // float32 FMAs on widened weights; those would also round A to bf16, which this path never does.

    struct Bf16Job
    {
        public float* A, C;
        public ushort* W;
        public int M, N, K, Lda, Ldc, Parts, Units;
        public readonly long PairFloats => K / 32 * 256L;
    }

    /// <summary>
    /// C[i·ldc + j] = Σ_p A[i·lda + p]·W[j·k + p] for i &lt; m, j &lt; n: few rows (m ≤ <see cref="DotRowsMax"/>)
    /// against a bf16 matrix W [n, k] read in place, spread over the worker pool by rows of W.
    /// </summary>
    public static void MultiplyBf16Transposed(int m, int n, int k, float* a, int lda, ushort* w, float* c, int ldc)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentOutOfRangeException(nameof(m), $"Gemm.MultiplyBf16Transposed: m={m} n={n} k={k}");
        if (m > DotRowsMax) throw new ArgumentOutOfRangeException(nameof(m), $"Gemm.MultiplyBf16Transposed: {m} rows, at most {DotRowsMax}");
        if (m > 1 && ldc < n || k > 0 && lda < k) throw new ArgumentOutOfRangeException(nameof(ldc));
        if (m == 0 || n == 0) return;
        if (k == 0) { ScaleC(m, n, 0f, c, ldc); return; }
        var job = new Bf16Job { A = a, C = c, W = w, M = m, N = n, K = k, Lda = lda, Ldc = ldc, Units = (n + 3) / 4 };
        if (!HasV512) { Bf16RangeReference(ref job, 0, n); return; }
        var pool = WorkerPool.Shared;
        // At least ~64K multiply-adds a part, and whole groups of four rows of W.
        job.Parts = (int)Math.Clamp((long)m * n * k / (64 * 1024), 1, Math.Min(pool.AvailableThreads, job.Units));
        if (job.Parts <= 1) Bf16Range(ref job, 0, n);
        else pool.For(job.Parts, &Bf16Part, &job);
    }

    static void Bf16Part(void* state, int part)
    {
        ref Bf16Job j = ref Unsafe.AsRef<Bf16Job>(state);
        int j0 = (int)((long)j.Units * part / j.Parts) * 4, j1 = Math.Min(j.N, (int)((long)j.Units * (part + 1) / j.Parts) * 4);
        if (j0 < j1) Bf16Range(ref j, j0, j1);
    }

    /// <summary>Columns [j0, j1) of C, group of four rows of W by group (see the section's comment).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Bf16Range(ref Bf16Job j, int j0, int j1)
    {
        int k = j.K;
        long lda = j.Lda, ldc = j.Ldc;
        if (j.M == 1)
        {
            // One row: the matrix-vector kernel with the weights widened in registers, no panel (see RowDot512Bf16).
            RowDot512Bf16(j.A, j.W, k, j0, j1, j.C);
            return;
        }
        if (j.M > 4) { Bf16RangeEights(ref j, j0, j1); return; }
        // Two to four rows of A, against four rows of W at a time.
        int rows = j.M;
        float* a0 = j.A, a1 = j.A + Math.Min(1, rows - 1) * lda, a2 = j.A + Math.Min(2, rows - 1) * lda, a3 = j.A + Math.Min(3, rows - 1) * lda;
        float* res = stackalloc float[16];
        for (int jb = j0; jb < j1; jb += 4)
        {
            int cols = Math.Min(4, j1 - jb);
            // A group past the end repeats its last row (the extra results are discarded), as in DotRange.
            ushort* w0 = j.W + (long)jb * k, w1 = j.W + (long)(jb + Math.Min(1, cols - 1)) * k;
            ushort* w2 = j.W + (long)(jb + Math.Min(2, cols - 1)) * k, w3 = j.W + (long)(jb + Math.Min(3, cols - 1)) * k;
            // The rows ahead are prefetched while these ones are read from memory.
            int jp = Math.Min(jb + MatVecPrefetchRows, j1 - 4);
            ushort* q0 = j.W + (long)Math.Max(jp, jb) * k;
            long qs = jp > jb ? k : 0;
            var s = Dot4x4<Four, Bf16Rows>(k, a0, a1, a2, a3, w0, w1, w2, w3, q0, q0 + qs, q0 + 2 * qs, q0 + 3 * qs);
            float* c = j.C + jb;
            if (rows == 4 && cols == 4)
            {
                DotStore4(c, 1f, 0f, s.GetLower().GetLower());
                DotStore4(c + ldc, 1f, 0f, s.GetLower().GetUpper());
                DotStore4(c + 2 * ldc, 1f, 0f, s.GetUpper().GetLower());
                DotStore4(c + 3 * ldc, 1f, 0f, s.GetUpper().GetUpper());
            }
            else
            {
                s.Store(res);
                for (int r = 0; r < rows; r++)
                    for (int t = 0; t < cols; t++) c[r * ldc + t] = res[4 * r + t];
            }
        }
    }

    /// <summary>
    /// Columns [j0, j1) for more than four rows of A: the rows of W three at a time (the rows ahead prefetched), eight rows
    /// of A at a time through <see cref="Dot8x3Bf16"/>, and the last one to four rows of A through <see cref="Dot4x4{TPf, TB}"/>
    /// on the same three rows (the third repeated as the fourth, its results discarded).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Bf16RangeEights(ref Bf16Job j, int j0, int j1)
    {
        int k = j.K;
        long lda = j.Lda, ldc = j.Ldc;
        // Each thread splits the rows of A into even and odd halves itself (the groups given to Dot8x3Bf16, more than four
        // rows each), in its own buffer: reading a block written by another core would pull it across the caches.
        int groups = (j.M + 3) / 8, blocks = k / 32;
        float* allPairs = null;
        if (blocks > 0)
        {
            allPairs = PackBuffers.Get(0, 0).Vector(groups * j.PairFloats);
            for (int g = 0; g < groups; g++) PairBlocks(j.A + (long)g * 8 * lda, lda, Math.Min(8, j.M - 8 * g), blocks, allPairs + g * j.PairFloats);
        }
        float* res = stackalloc float[32];
        // Up to eight rows, k goes in chunks, each over all the thread's rows of W, short enough that the chunk of A stays
        // in L1 while W streams by: a longer k read A from L2 for every three rows of W. The chunks' sums are added into C.
        // More rows keep k whole: there each three rows of W, read once from memory, serve every group of A from L1, and
        // shorter chunks measured slower (docs/BENCHMARKS.md, "Eight rows of A in L1").
        int chunk = j.M > 8 || (long)k * 8 * sizeof(float) <= EightsL1Bytes ? k : EightsL1Bytes / (8 * sizeof(float));
        for (int k0 = 0; k0 < k; k0 += chunk)
        {
            int kc = Math.Min(chunk, k - k0);
            bool first = k0 == 0, whole = kc == k;
            for (int jb = j0; jb < j1; jb += 3)
            {
                int cols = Math.Min(3, j1 - jb);
                ushort* w0 = j.W + (long)jb * k + k0, w1 = j.W + (long)(jb + Math.Min(1, cols - 1)) * k + k0, w2 = j.W + (long)(jb + Math.Min(2, cols - 1)) * k + k0;
                // What the first group of A prefetches: with k in one chunk the three rows lie one after another, one stream
                // read GroupPrefetchBytes ahead; with several chunks, the next three rows' part of this chunk.
                ushort* ahead = whole ? (ushort*)((byte*)w0 + GroupPrefetchBytes) : w0 + 3L * k;
                long aheadRow = whole ? 32 : k;
                int i = 0;
                for (; i + 4 < j.M; i += 8)
                {
                    int rows = Math.Min(8, j.M - i);
                    float* a = j.A + i * lda + k0;
                    long l1 = Math.Min(1, rows - 1) * lda, l2 = Math.Min(2, rows - 1) * lda, l3 = Math.Min(3, rows - 1) * lda;
                    long l4 = Math.Min(4, rows - 1) * lda, l5 = Math.Min(5, rows - 1) * lda, l6 = Math.Min(6, rows - 1) * lda, l7 = Math.Min(7, rows - 1) * lda;
                    float* pairs = allPairs == null ? null : allPairs + i / 8 * j.PairFloats + k0 / 32 * 256L;
                    Dot8x3Bf16(kc, a, a + l1, a + l2, a + l3, a + l4, a + l5, a + l6, a + l7, pairs, w0, w1, w2,
                        i == 0 ? ahead : null, whole, aheadRow, out var rest).Store(res);
                    rest.Store(res + 16);
                    float* c = j.C + i * ldc + jb;
                    for (int r = 0; r < rows; r++)
                        for (int t = 0; t < cols; t++)
                        {
                            float v = r < 4 ? res[4 * r + t] : t == 0 ? res[4 * (r - 4) + 3] : res[16 + 4 * (r - 4) + t - 1];
                            c[r * ldc + t] = first ? v : c[r * ldc + t] + v;
                        }
                }
                if (i < j.M)
                {
                    int rows = j.M - i;
                    float* a0 = j.A + i * lda + k0;
                    float* a1 = j.A + (i + Math.Min(1, rows - 1)) * lda + k0;
                    float* a2 = j.A + (i + Math.Min(2, rows - 1)) * lda + k0;
                    float* a3 = j.A + (i + Math.Min(3, rows - 1)) * lda + k0;
                    Dot4x4<None, Bf16Rows>(kc, a0, a1, a2, a3, w0, w1, w2, w2, null, null, null, null).Store(res);
                    float* c = j.C + i * ldc + jb;
                    for (int r = 0; r < rows; r++)
                        for (int t = 0; t < cols; t++) c[r * ldc + t] = first ? res[4 * r + t] : c[r * ldc + t] + res[4 * r + t];
                }
            }
        }
    }

    /// <summary>
    /// Eight rows of A against three bf16 rows of W, each sixteen weights widened in a register right before their FMAs, so
    /// the weights go from memory to the FMAs without a panel in between, and each row of A is read once for three rows
    /// of W (24 accumulators, 28 of the 32 vector registers). Per output, the FMA chain and the reduction are
    /// <see cref="Dot4x4{TPf, TB}"/>'s (one accumulator over k in steps of 16, a masked tail, <see cref="Fold4"/> and
    /// <see cref="Combine4"/>). With <paramref name="pairs"/> (the eight rows in <see cref="PairBlocks"/>' layout), whole
    /// blocks of 32 go through the even/odd loop first; without, the results equal the float32 path's bit for bit. Block r of the
    /// result: C[r, 0], C[r, 1], C[r, 2], C[r + 4, 0]; block r of <paramref name="rest"/>: C[r + 4, 1], C[r + 4, 2] (then
    /// the same again). When <paramref name="ahead"/> is not null, it is prefetched at the pace the rows are read, three
    /// 64-byte lines each 32 values of k: with <paramref name="oneStream"/>, three rows' 3·k values lying one after another
    /// from there on; without, three rows <paramref name="aheadRow"/> values apart (the next three rows' chunk of k).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static Vector512<float> Dot8x3Bf16(int k, float* a0, float* a1, float* a2, float* a3, float* a4, float* a5, float* a6, float* a7,
        float* pairs, ushort* w0, ushort* w1, ushort* w2, ushort* ahead, bool oneStream, long aheadRow, out Vector512<float> rest)
    {
        Vector512<float> s00 = default, s10 = default, s20 = default, s30 = default, s40 = default, s50 = default, s60 = default, s70 = default;
        Vector512<float> s01 = default, s11 = default, s21 = default, s31 = default, s41 = default, s51 = default, s61 = default, s71 = default;
        Vector512<float> s02 = default, s12 = default, s22 = default, s32 = default, s42 = default, s52 = default, s62 = default, s72 = default;
        int q = 0;
        if (pairs != null)
        {
            // 32 weights a step, one 64-byte load a row of W: the even-indexed ones widened by a shift, the odd-indexed ones by
            // masking off the low half of each 32-bit lane, against the rows of A split the same way (PairBlocks). Half the
            // widening work of the 16-wide loop below, and none of it a shuffle: on Zen 4 the shuffles and shifts of the
            // widening compete with the FMAs for their pipes.
            var high = Vector512.Create(0xFFFF0000u);
            for (float* p = pairs; q + 32 <= k; q += 32, p += 256)
            {
                if (ahead != null) { ushort* f = ahead + (oneStream ? 3 * q : q); Sse.Prefetch0(f); Sse.Prefetch0(f + aheadRow); Sse.Prefetch0(f + 2 * aheadRow); }
                var v0 = Vector512.Load((uint*)(w0 + q)); var v1 = Vector512.Load((uint*)(w1 + q)); var v2 = Vector512.Load((uint*)(w2 + q));
                var y0 = (v0 << 16).AsSingle(); var y1 = (v1 << 16).AsSingle(); var y2 = (v2 << 16).AsSingle();
                var x = Vector512.Load(p); s00 = Vector512.FusedMultiplyAdd(x, y0, s00); s01 = Vector512.FusedMultiplyAdd(x, y1, s01); s02 = Vector512.FusedMultiplyAdd(x, y2, s02);
                x = Vector512.Load(p + 32); s10 = Vector512.FusedMultiplyAdd(x, y0, s10); s11 = Vector512.FusedMultiplyAdd(x, y1, s11); s12 = Vector512.FusedMultiplyAdd(x, y2, s12);
                x = Vector512.Load(p + 64); s20 = Vector512.FusedMultiplyAdd(x, y0, s20); s21 = Vector512.FusedMultiplyAdd(x, y1, s21); s22 = Vector512.FusedMultiplyAdd(x, y2, s22);
                x = Vector512.Load(p + 96); s30 = Vector512.FusedMultiplyAdd(x, y0, s30); s31 = Vector512.FusedMultiplyAdd(x, y1, s31); s32 = Vector512.FusedMultiplyAdd(x, y2, s32);
                x = Vector512.Load(p + 128); s40 = Vector512.FusedMultiplyAdd(x, y0, s40); s41 = Vector512.FusedMultiplyAdd(x, y1, s41); s42 = Vector512.FusedMultiplyAdd(x, y2, s42);
                x = Vector512.Load(p + 160); s50 = Vector512.FusedMultiplyAdd(x, y0, s50); s51 = Vector512.FusedMultiplyAdd(x, y1, s51); s52 = Vector512.FusedMultiplyAdd(x, y2, s52);
                x = Vector512.Load(p + 192); s60 = Vector512.FusedMultiplyAdd(x, y0, s60); s61 = Vector512.FusedMultiplyAdd(x, y1, s61); s62 = Vector512.FusedMultiplyAdd(x, y2, s62);
                x = Vector512.Load(p + 224); s70 = Vector512.FusedMultiplyAdd(x, y0, s70); s71 = Vector512.FusedMultiplyAdd(x, y1, s71); s72 = Vector512.FusedMultiplyAdd(x, y2, s72);
                y0 = (v0 & high).AsSingle(); y1 = (v1 & high).AsSingle(); y2 = (v2 & high).AsSingle();
                x = Vector512.Load(p + 16); s00 = Vector512.FusedMultiplyAdd(x, y0, s00); s01 = Vector512.FusedMultiplyAdd(x, y1, s01); s02 = Vector512.FusedMultiplyAdd(x, y2, s02);
                x = Vector512.Load(p + 48); s10 = Vector512.FusedMultiplyAdd(x, y0, s10); s11 = Vector512.FusedMultiplyAdd(x, y1, s11); s12 = Vector512.FusedMultiplyAdd(x, y2, s12);
                x = Vector512.Load(p + 80); s20 = Vector512.FusedMultiplyAdd(x, y0, s20); s21 = Vector512.FusedMultiplyAdd(x, y1, s21); s22 = Vector512.FusedMultiplyAdd(x, y2, s22);
                x = Vector512.Load(p + 112); s30 = Vector512.FusedMultiplyAdd(x, y0, s30); s31 = Vector512.FusedMultiplyAdd(x, y1, s31); s32 = Vector512.FusedMultiplyAdd(x, y2, s32);
                x = Vector512.Load(p + 144); s40 = Vector512.FusedMultiplyAdd(x, y0, s40); s41 = Vector512.FusedMultiplyAdd(x, y1, s41); s42 = Vector512.FusedMultiplyAdd(x, y2, s42);
                x = Vector512.Load(p + 176); s50 = Vector512.FusedMultiplyAdd(x, y0, s50); s51 = Vector512.FusedMultiplyAdd(x, y1, s51); s52 = Vector512.FusedMultiplyAdd(x, y2, s52);
                x = Vector512.Load(p + 208); s60 = Vector512.FusedMultiplyAdd(x, y0, s60); s61 = Vector512.FusedMultiplyAdd(x, y1, s61); s62 = Vector512.FusedMultiplyAdd(x, y2, s62);
                x = Vector512.Load(p + 240); s70 = Vector512.FusedMultiplyAdd(x, y0, s70); s71 = Vector512.FusedMultiplyAdd(x, y1, s71); s72 = Vector512.FusedMultiplyAdd(x, y2, s72);
            }
        }
        for (; q + 16 <= k; q += 16)
        {
            if (ahead != null && (q & 31) == 0) { ushort* f = ahead + (oneStream ? 3 * q : q); Sse.Prefetch0(f); Sse.Prefetch0(f + aheadRow); Sse.Prefetch0(f + 2 * aheadRow); }
            var y0 = Widen(w0 + q); var y1 = Widen(w1 + q); var y2 = Widen(w2 + q);
            var x = Vector512.Load(a0 + q); s00 = Vector512.FusedMultiplyAdd(x, y0, s00); s01 = Vector512.FusedMultiplyAdd(x, y1, s01); s02 = Vector512.FusedMultiplyAdd(x, y2, s02);
            x = Vector512.Load(a1 + q); s10 = Vector512.FusedMultiplyAdd(x, y0, s10); s11 = Vector512.FusedMultiplyAdd(x, y1, s11); s12 = Vector512.FusedMultiplyAdd(x, y2, s12);
            x = Vector512.Load(a2 + q); s20 = Vector512.FusedMultiplyAdd(x, y0, s20); s21 = Vector512.FusedMultiplyAdd(x, y1, s21); s22 = Vector512.FusedMultiplyAdd(x, y2, s22);
            x = Vector512.Load(a3 + q); s30 = Vector512.FusedMultiplyAdd(x, y0, s30); s31 = Vector512.FusedMultiplyAdd(x, y1, s31); s32 = Vector512.FusedMultiplyAdd(x, y2, s32);
            x = Vector512.Load(a4 + q); s40 = Vector512.FusedMultiplyAdd(x, y0, s40); s41 = Vector512.FusedMultiplyAdd(x, y1, s41); s42 = Vector512.FusedMultiplyAdd(x, y2, s42);
            x = Vector512.Load(a5 + q); s50 = Vector512.FusedMultiplyAdd(x, y0, s50); s51 = Vector512.FusedMultiplyAdd(x, y1, s51); s52 = Vector512.FusedMultiplyAdd(x, y2, s52);
            x = Vector512.Load(a6 + q); s60 = Vector512.FusedMultiplyAdd(x, y0, s60); s61 = Vector512.FusedMultiplyAdd(x, y1, s61); s62 = Vector512.FusedMultiplyAdd(x, y2, s62);
            x = Vector512.Load(a7 + q); s70 = Vector512.FusedMultiplyAdd(x, y0, s70); s71 = Vector512.FusedMultiplyAdd(x, y1, s71); s72 = Vector512.FusedMultiplyAdd(x, y2, s72);
        }
        if (q < k)
        {
            var m = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(k - q)).AsSingle();
            var y0 = WidenTail(w0 + q, k - q); var y1 = WidenTail(w1 + q, k - q); var y2 = WidenTail(w2 + q, k - q);
            var x = Avx512F.MaskLoad(a0 + q, m, default); s00 = Vector512.FusedMultiplyAdd(x, y0, s00); s01 = Vector512.FusedMultiplyAdd(x, y1, s01); s02 = Vector512.FusedMultiplyAdd(x, y2, s02);
            x = Avx512F.MaskLoad(a1 + q, m, default); s10 = Vector512.FusedMultiplyAdd(x, y0, s10); s11 = Vector512.FusedMultiplyAdd(x, y1, s11); s12 = Vector512.FusedMultiplyAdd(x, y2, s12);
            x = Avx512F.MaskLoad(a2 + q, m, default); s20 = Vector512.FusedMultiplyAdd(x, y0, s20); s21 = Vector512.FusedMultiplyAdd(x, y1, s21); s22 = Vector512.FusedMultiplyAdd(x, y2, s22);
            x = Avx512F.MaskLoad(a3 + q, m, default); s30 = Vector512.FusedMultiplyAdd(x, y0, s30); s31 = Vector512.FusedMultiplyAdd(x, y1, s31); s32 = Vector512.FusedMultiplyAdd(x, y2, s32);
            x = Avx512F.MaskLoad(a4 + q, m, default); s40 = Vector512.FusedMultiplyAdd(x, y0, s40); s41 = Vector512.FusedMultiplyAdd(x, y1, s41); s42 = Vector512.FusedMultiplyAdd(x, y2, s42);
            x = Avx512F.MaskLoad(a5 + q, m, default); s50 = Vector512.FusedMultiplyAdd(x, y0, s50); s51 = Vector512.FusedMultiplyAdd(x, y1, s51); s52 = Vector512.FusedMultiplyAdd(x, y2, s52);
            x = Avx512F.MaskLoad(a6 + q, m, default); s60 = Vector512.FusedMultiplyAdd(x, y0, s60); s61 = Vector512.FusedMultiplyAdd(x, y1, s61); s62 = Vector512.FusedMultiplyAdd(x, y2, s62);
            x = Avx512F.MaskLoad(a7 + q, m, default); s70 = Vector512.FusedMultiplyAdd(x, y0, s70); s71 = Vector512.FusedMultiplyAdd(x, y1, s71); s72 = Vector512.FusedMultiplyAdd(x, y2, s72);
        }
        var b0 = Fold4(s40, s50, s60, s70);
        var b1 = Fold4(s41, s51, s61, s71);
        var b2 = Fold4(s42, s52, s62, s72);
        rest = Combine4(b1, b2, b1, b2);
        return Combine4(Fold4(s00, s10, s20, s30), Fold4(s01, s11, s21, s31), Fold4(s02, s12, s22, s32), b0);
    }

    /// <summary>
    /// Eight rows of A from <paramref name="a"/> (the last of <paramref name="rows"/> repeated) in the layout of
    /// <see cref="Dot8x3Bf16"/>'s 32-wide loop: for each block of 32 values of k, each row's 16 even-indexed values then its
    /// 16 odd-indexed ones, the eight rows one after another (256 floats a block), so that one pointer walks them all.
    /// </summary>
    static void PairBlocks(float* a, long lda, int rows, int blocks, float* p)
    {
        var even = Vector512.Create(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        var odd = even + Vector512<int>.One;
        for (int r = 0; r < 8; r++)
        {
            float* s = a + Math.Min(r, rows - 1) * lda, d = p + r * 32;
            for (int b = 0; b < blocks; b++, s += 32, d += 256)
            {
                var lo = Vector512.Load(s); var hi = Vector512.Load(s + 16);
                Avx512F.PermuteVar16x32x2(lo, even, hi).Store(d);
                Avx512F.PermuteVar16x32x2(lo, odd, hi).Store(d + 16);
            }
        }
    }

    /// <summary>The last <paramref name="count"/> (&lt; 16) bf16 values of a row widened, the lanes past them zero.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> WidenTail(ushort* p, int count)
    {
        ushort* tail = stackalloc ushort[16];
        for (int i = 0; i < 16; i++) tail[i] = i < count ? p[i] : (ushort)0;
        return Widen(tail);
    }

    /// <summary>Scalar reference of <see cref="Bf16Range"/> (and the path without AVX-512): each output one float32
    /// FMA chain over k on the exactly widened weights.</summary>
    static void Bf16RangeReference(ref Bf16Job j, int j0, int j1)
    {
        for (int i = 0; i < j.M; i++)
            for (int jj = j0; jj < j1; jj++)
            {
                float s = 0;
                ushort* wr = j.W + (long)jj * j.K;
                float* ar = j.A + (long)i * j.Lda;
                for (int p = 0; p < j.K; p++) s = MathF.FusedMultiplyAdd(ar[p], BFloat16.ToFloat(wr[p]), s);
                j.C[(long)i * j.Ldc + jj] = s;
            }
    }

    /// <summary>How far ahead <see cref="RowDot512Bf16"/> prefetches each thread's stream of W.</summary>
    const int StreamPrefetchBytes = 4096;

    /// <summary>How far ahead <see cref="Bf16RangeEights"/> prefetches its stream of W (its three rows lie one after another;
    /// decoding at batch 8 before and after: docs/BENCHMARKS.md, "One stream of weights a thread").</summary>
    const int GroupPrefetchBytes = 16384;

    /// <summary>How many bytes of A (eight rows, split for the 32-wide loop) <see cref="Bf16RangeEights"/> keeps in L1 per
    /// chunk of k (1024 values: a multiple of 32): two thirds of a 48 KiB L1, the rest for the stream of W.</summary>
    const int EightsL1Bytes = 32 * 1024;

    /// <summary>
    /// <see cref="RowDot512"/> on bf16 rows of W [n, k] read in place: every 16 weights are widened in a register (a zero
    /// extension and a 16-bit shift: exact) right before their FMA, so nothing is written to a panel and read back. Each
    /// output's FMAs, chains and final sum are RowDot512's, in its order: the results equal the float32 path's bit for bit.
    /// Rows go one at a time, so each thread reads W as one sequential stream, prefetched <see cref="StreamPrefetchBytes"/>
    /// ahead (one prefetch a 64-byte line): four rows interleaved, with prefetches 16 rows ahead, read memory a fifth
    /// to a third slower (docs/BENCHMARKS.md, "One stream of weights a thread").
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void RowDot512Bf16(float* x, ushort* w, int k, int j0, int j1, float* c)
    {
        for (int j = j0; j < j1; j++)
        {
            ushort* r = w + (long)j * k;
            Vector512<float> a = default, b = default;
            int p = 0;
            for (; p + 32 <= k; p += 32)
            {
                Sse.Prefetch0((byte*)(r + p) + StreamPrefetchBytes);   // a hint: never faults, even past the end of W
                a = Vector512.FusedMultiplyAdd(Vector512.Load(x + p), Widen(r + p), a);
                b = Vector512.FusedMultiplyAdd(Vector512.Load(x + p + 16), Widen(r + p + 16), b);
            }
            if (p + 16 <= k)
            {
                a = Vector512.FusedMultiplyAdd(Vector512.Load(x + p), Widen(r + p), a);
                p += 16;
            }
            float s = Vector512.Sum(a + b);
            for (; p < k; p++) s = MathF.FusedMultiplyAdd(x[p], BFloat16.ToFloat(r[p]), s);
            c[j] = s;
        }
    }

    /// <summary>16 bf16 values widened to float32 exactly: zero-extended to 32 bits and shifted into the high half.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Widen(ushort* p) => Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(Vector256.Load(p)), 16).AsSingle();

    /// <summary><see cref="MultiplyBf16Transposed"/> by the scalar reference, for tests.</summary>
    internal static void MultiplyBf16TransposedReference(int m, int n, int k, float* a, int lda, ushort* w, float* c, int ldc)
    {
        var job = new Bf16Job { A = a, C = c, W = w, M = m, N = n, K = k, Lda = lda, Ldc = ldc };
        Bf16RangeReference(ref job, 0, n);
    }

    /// <summary>C[i0.., j0..j0+cols) for up to 4 rows and up to 64 columns, B stored k×n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void SmallRowsStream(ref UnpackedJob j, int i0, int rows, int j0, int cols)
    {
        ref Problem p = ref j.P;
        float* a0 = j.A + i0 * j.ARow;
        float* a1 = j.A + (i0 + Math.Min(1, rows - 1)) * j.ARow;
        float* a2 = j.A + (i0 + Math.Min(2, rows - 1)) * j.ARow;
        float* a3 = j.A + (i0 + Math.Min(3, rows - 1)) * j.ARow;
        long ac = j.ACol, ldb = p.Ldb;
        float* b = p.B + j0;
        var lane = Vector512<int>.Indices;
        var m0 = Vector512.LessThan(lane, Vector512.Create(cols)).AsSingle();
        var m1 = Vector512.LessThan(lane, Vector512.Create(cols - 16)).AsSingle();
        var m2 = Vector512.LessThan(lane, Vector512.Create(cols - 32)).AsSingle();
        var m3 = Vector512.LessThan(lane, Vector512.Create(cols - 48)).AsSingle();
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        int k = p.K;
        if (cols == 64)
        {
            for (int q = 0; q < k; q++, b += ldb)
            {
                var b0 = Vector512.Load(b); var b1 = Vector512.Load(b + 16);
                var b2 = Vector512.Load(b + 32); var b3 = Vector512.Load(b + 48);
                var x = Vector512.Create(a0[q * ac]);
                c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
                c02 = Vector512.FusedMultiplyAdd(x, b2, c02); c03 = Vector512.FusedMultiplyAdd(x, b3, c03);
                x = Vector512.Create(a1[q * ac]);
                c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
                c12 = Vector512.FusedMultiplyAdd(x, b2, c12); c13 = Vector512.FusedMultiplyAdd(x, b3, c13);
                x = Vector512.Create(a2[q * ac]);
                c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
                c22 = Vector512.FusedMultiplyAdd(x, b2, c22); c23 = Vector512.FusedMultiplyAdd(x, b3, c23);
                x = Vector512.Create(a3[q * ac]);
                c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
                c32 = Vector512.FusedMultiplyAdd(x, b2, c32); c33 = Vector512.FusedMultiplyAdd(x, b3, c33);
            }
        }
        else
        {
            // The last chunk of a row: masked loads (zeros past the edge) and the same FMA sequence per output.
            for (int q = 0; q < k; q++, b += ldb)
            {
                var b0 = Avx512F.MaskLoad(b, m0, default); var b1 = Avx512F.MaskLoad(b + 16, m1, default);
                var b2 = Avx512F.MaskLoad(b + 32, m2, default); var b3 = Avx512F.MaskLoad(b + 48, m3, default);
                var x = Vector512.Create(a0[q * ac]);
                c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
                c02 = Vector512.FusedMultiplyAdd(x, b2, c02); c03 = Vector512.FusedMultiplyAdd(x, b3, c03);
                x = Vector512.Create(a1[q * ac]);
                c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
                c12 = Vector512.FusedMultiplyAdd(x, b2, c12); c13 = Vector512.FusedMultiplyAdd(x, b3, c13);
                x = Vector512.Create(a2[q * ac]);
                c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
                c22 = Vector512.FusedMultiplyAdd(x, b2, c22); c23 = Vector512.FusedMultiplyAdd(x, b3, c23);
                x = Vector512.Create(a3[q * ac]);
                c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
                c32 = Vector512.FusedMultiplyAdd(x, b2, c32); c33 = Vector512.FusedMultiplyAdd(x, b3, c33);
            }
        }
        var va = Vector512.Create(p.Alpha);
        float beta = p.Beta;
        float* c = p.C + (long)i0 * p.Ldc + j0;
        long ldc = p.Ldc;
        StoreRow64(c, va, beta, c00, c01, c02, c03, m0, m1, m2, m3);
        if (rows > 1) StoreRow64(c + ldc, va, beta, c10, c11, c12, c13, m0, m1, m2, m3);
        if (rows > 2) StoreRow64(c + 2 * ldc, va, beta, c20, c21, c22, c23, m0, m1, m2, m3);
        if (rows > 3) StoreRow64(c + 3 * ldc, va, beta, c30, c31, c32, c33, m0, m1, m2, m3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void StoreRow64(float* c, Vector512<float> alpha, float beta, Vector512<float> x0, Vector512<float> x1,
        Vector512<float> x2, Vector512<float> x3, Vector512<float> m0, Vector512<float> m1, Vector512<float> m2, Vector512<float> m3)
    {
        StoreMasked16(c, alpha, beta, x0, m0);
        StoreMasked16(c + 16, alpha, beta, x1, m1);
        StoreMasked16(c + 32, alpha, beta, x2, m2);
        StoreMasked16(c + 48, alpha, beta, x3, m3);
    }

    // =====================================================================================================
    // Per-thread buffers
    // =====================================================================================================

    /// <summary>
    /// Packing buffers owned by one thread, 64-byte aligned, grown on demand and kept, so steady-state calls do not
    /// allocate. The finalizer frees them when the thread (and so this object) goes away.
    /// </summary>
    sealed class PackBuffers
    {
        [ThreadStatic] static PackBuffers? t_instance;

        public float* A, B;
        long _aLen, _bLen;
        float* _vec;
        long _vecLen;

        public static PackBuffers Get(long aFloats, long bFloats)
        {
            var p = t_instance ??= new PackBuffers();
            if (p._aLen < aFloats) { Free(ref p.A); p.A = Alloc(aFloats); p._aLen = aFloats; }
            if (p._bLen < bFloats) { Free(ref p.B); p.B = Alloc(bFloats); p._bLen = bFloats; }
            return p;
        }

        float* _y;
        long _yLen;
        public float* Y(long floats)
        {
            if (_yLen < floats) { Free(ref _y); _y = Alloc(floats); _yLen = floats; }
            return _y;
        }

        public float* Vector(long floats)
        {
            if (_vecLen < floats) { Free(ref _vec); _vec = Alloc(floats); _vecLen = floats; }
            return _vec;
        }

        static float* Alloc(long floats) => (float*)NativeMemory.AlignedAlloc((nuint)(floats * sizeof(float)), 64);
        static void Free(ref float* p) { if (p != null) NativeMemory.AlignedFree(p); p = null; }

        ~PackBuffers() { Free(ref A); Free(ref B); Free(ref _vec); }
    }
}
