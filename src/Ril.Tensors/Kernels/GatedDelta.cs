using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Ril.Tensors.Kernels;

/// <summary>One block of consecutive positions of one packed sequence: [Start, Start + Length); <see cref="First"/> when
/// the state resets before it (a sequence's first chunk).</summary>
internal readonly record struct DeltaChunk(int Start, int Length, bool First);

/// <summary>
/// Sizes and strides of one gated delta rule call: q, k [B, T, Hk, Dk], v and o [B, T, Hv, Dv], g and beta [B, T, Hv],
/// states [B, Hv, Dk, Dv]. Value head h reads q/k head h / (Hv/Hk). Each batch row is cut into its packed sequences
/// and each sequence into chunks of at most <c>chunkSize</c> positions (the last one shorter).
/// </summary>
internal sealed class DeltaGeometry
{
    public readonly int B, T, Hk, Hv, Dk, Dv, ChunkSize;
    /// <summary>Chunks of each batch row, in order.</summary>
    public readonly DeltaChunk[][] Chunks;
    /// <summary>Index of a row's first chunk among all rows' chunks (saved states are per (row, head, chunk)).</summary>
    public readonly int[] ChunkBase;
    public readonly int TotalChunks;

    public DeltaGeometry(int b, int t, int hk, int hv, int dk, int dv, int chunkSize, int[]? runStarts)
    {
        (B, T, Hk, Hv, Dk, Dv, ChunkSize) = (b, t, hk, hv, dk, dv, chunkSize);
        Chunks = new DeltaChunk[b][];
        ChunkBase = new int[b];
        for (int r = 0; r < b; r++)
        {
            var list = new List<DeltaChunk>();
            int s = 0;
            while (s < t)
            {
                int e = s + 1;
                while (e < t && (runStarts is null || runStarts[r * t + e] == runStarts[r * t + s])) e++;
                for (int c = s; c < e; c += chunkSize) list.Add(new DeltaChunk(c, Math.Min(chunkSize, e - c), c == s));
                s = e;
            }
            Chunks[r] = list.ToArray();
            ChunkBase[r] = TotalChunks;
            TotalChunks += list.Count;
        }
    }

    public int QRow => Hk * Dk;
    public int VRow => Hv * Dv;
    public int Group => Hv / Hk;
    public int StateSize => Dk * Dv;
    /// <summary>Offset of (b, position t, q/k head of value head h) in q and k.</summary>
    public long QAt(int b, int t, int h) => ((long)b * T + t) * QRow + (long)(h / Group) * Dk;
    public long VAt(int b, int t, int h) => ((long)b * T + t) * VRow + (long)h * Dv;
    public long GAt(int b, int t, int h) => ((long)b * T + t) * Hv + h;
    public long StateAt(int b, int h) => ((long)b * Hv + h) * StateSize;
    /// <summary>Offset of the saved chunk-start states of (b, h) (one per chunk of row b, consecutive).</summary>
    public long SavedAt(int b, int h) => ((long)ChunkBase[b] * Hv + (long)h * Chunks[b].Length) * StateSize;
}

/// <summary>
/// The gated delta rule in chunked form (docs/spec/QWEN3_5.md "Chunked forward", "Chunked backward"),
/// one (batch row, value head) at a time, its products on <see cref="Gemm"/>; and the one-token step of the recurrent
/// form, vectorised over state rows. <see cref="GatedDeltaReference"/> is the scalar recurrent form they are tested against.
/// </summary>
internal static unsafe class GatedDeltaKernels
{
    /// <summary>Work space of one chunk (C = chunk size): pointers carved from one rented array.</summary>
    internal struct Scratch
    {
        public double* G64;
        public float* G, Ea, Beta, D, KKe, A, Tm, Bu, Bw, U, W, Delta, Qg, P, Kd;
        // backward only
        public double* DG;
        public float* DQg, DS, DP, DDelta, DKd, DW, DBu, DBw, X, DA;

        public static int Floats(int c, int dk, int dv, bool backward)
            => 5 * c + 6 * c * c + c * (3 * dk + 3 * dv) + c * dk /* Kd */ + (backward ? 4 * c * c + c * (4 * dk + 3 * dv) + dk * dv + 2 * c : 0);

        public static Scratch Carve(float* p, int c, int dk, int dv, bool backward)
        {
            Scratch s = default;
            float* Take(int n) { float* r = p; p += n; return r; }
            s.G64 = (double*)Take(2 * c);   // the doubles first: 8-byte aligned like the array
            if (backward) s.DG = (double*)Take(2 * c);
            s.G = Take(c); s.Ea = Take(c); s.Beta = Take(c);
            s.D = Take(c * c); s.KKe = Take(c * c); s.A = Take(c * c); s.Tm = Take(c * c); s.P = Take(c * c); s.X = Take(c * c);
            s.Bu = Take(c * dv); s.U = Take(c * dv); s.Delta = Take(c * dv);
            s.Bw = Take(c * dk); s.W = Take(c * dk); s.Qg = Take(c * dk); s.Kd = Take(c * dk);
            if (!backward) return s;
            s.DP = Take(c * c); s.DA = Take(c * c); s.DS = Take(dk * dv);
            s.DQg = Take(c * dk); s.DKd = Take(c * dk); s.DW = Take(c * dk); s.DBw = Take(c * dk);
            s.DDelta = Take(c * dv); s.DBu = Take(c * dv);
            Take(2 * c * c + c * dv);   // spare (keeps Floats an upper bound)
            return s;
        }
    }

    /// <summary>
    /// The quantities of one chunk from its inputs and its start state S (docs/spec/QWEN3_5.md "Chunked forward"): cumulative decay G,
    /// A = strictly-lower(diag(β) K Kᵀ ⊙ D), T = (I + A)⁻¹, U = T(βV), W = T(βK ⊙ e^G), Δ = U − W S, and, when
    /// <paramref name="forOutput"/>, Qg = Q ⊙ e^G and P = (Q Kᵀ) ⊙ D. U and W are formed only <paramref name="forBackward"/>.
    /// q, k, v, g, beta point at the chunk's first position.
    /// </summary>
    static void Prepare(DeltaGeometry geo, int n, float* q, float* k, float* v, float* g, float* beta, float* S, in Scratch s, bool forOutput, bool forBackward)
    {
        int dk = geo.Dk, dv = geo.Dv, qRow = geo.QRow, vRow = geo.VRow, hv = geo.Hv;
        double acc = 0;
        for (int i = 0; i < n; i++)
        {
            acc += g[(long)i * hv];               // G_i = Σ_{j≤i} g_j, in double: G_i − G_j must not lose the short range sums
            s.G64[i] = acc;
            s.G[i] = (float)acc;
            s.Beta[i] = beta[(long)i * hv];
        }
        TP.Exp(new ReadOnlySpan<float>(s.G, n), new Span<float>(s.Ea, n));
        // D_ij = exp(G_i − G_j) for j ≤ i, 0 above the diagonal (masked before the exp: only differences ≤ 0)
        for (int i = 0; i < n; i++)
        {
            var d = new Span<float>(s.D + i * n, n);
            for (int j = 0; j <= i; j++) d[j] = (float)(s.G64[i] - s.G64[j]);
            TP.Exp(d[..(i + 1)], d[..(i + 1)]);
            d[(i + 1)..].Clear();
        }
        // KKe = strictly-lower((K Kᵀ) ⊙ D), A = diag(β)·KKe
        Gemm.Multiply(false, true, n, n, dk, 1f, k, qRow, k, qRow, 0f, s.KKe, n);
        for (int i = 0; i < n; i++)
        {
            var kk = new Span<float>(s.KKe + i * n, n); var a = new Span<float>(s.A + i * n, n);
            TP.Multiply(kk[..i], new ReadOnlySpan<float>(s.D + i * n, i), kk[..i]);
            TP.Multiply(kk[..i], s.Beta[i], a[..i]);
            kk[i..].Clear(); a[i..].Clear();
        }
        InvertUnitLower(s.A, s.Tm, n);
        // Bu = β V, Bw = β e^G K; U = T Bu, W = T Bw; Δ = U − W S
        for (int i = 0; i < n; i++)
        {
            TP.Multiply(new ReadOnlySpan<float>(v + (long)i * vRow, dv), s.Beta[i], new Span<float>(s.Bu + i * dv, dv));
            TP.Multiply(new ReadOnlySpan<float>(k + (long)i * qRow, dk), s.Beta[i] * s.Ea[i], new Span<float>(s.Bw + i * dk, dk));
        }
        if (forBackward)
        {
            Gemm.Multiply(false, false, n, dv, n, 1f, s.Tm, n, s.Bu, dv, 0f, s.U, dv);
            Gemm.Multiply(false, false, n, dk, n, 1f, s.Tm, n, s.Bw, dk, 0f, s.W, dk);
            new Span<float>(s.U, n * dv).CopyTo(new Span<float>(s.Delta, n * dv));
            Gemm.Multiply(false, false, n, dv, dk, -1f, s.W, dk, S, dv, 1f, s.Delta, dv);
        }
        else
        {
            // the forward needs only Δ = T (Bu − Bw S): one product fewer than forming U and W
            new Span<float>(s.Bu, n * dv).CopyTo(new Span<float>(s.U, n * dv));
            Gemm.Multiply(false, false, n, dv, dk, -1f, s.Bw, dk, S, dv, 1f, s.U, dv);
            Gemm.Multiply(false, false, n, dv, n, 1f, s.Tm, n, s.U, dv, 0f, s.Delta, dv);
        }
        // Kd = K ⊙ e^(G_last − G) (the decay from each position to the chunk's end: row n−1 of D)
        float* toEnd = s.D + (n - 1) * n;
        for (int i = 0; i < n; i++)
            TP.Multiply(new ReadOnlySpan<float>(k + (long)i * qRow, dk), toEnd[i], new Span<float>(s.Kd + i * dk, dk));
        if (!forOutput) return;
        // Qg = Q ⊙ e^G; P_ij = (q_i·k_j)·exp(G_i − G_j) for j ≤ i
        for (int i = 0; i < n; i++)
            TP.Multiply(new ReadOnlySpan<float>(q + (long)i * qRow, dk), s.Ea[i], new Span<float>(s.Qg + i * dk, dk));
        Gemm.Multiply(false, true, n, n, dk, 1f, q, qRow, k, qRow, 0f, s.P, n);
        TP.Multiply(new ReadOnlySpan<float>(s.P, n * n), new ReadOnlySpan<float>(s.D, n * n), new Span<float>(s.P, n * n));
    }

    /// <summary>
    /// T = (I + A)⁻¹ for a strictly lower-triangular A (n×n, row-major): forward substitution row by row,
    /// T_ij = −Σ_{j≤m &lt; i} A_im T_mj (T_ii = 1, zero above), 16 columns at a time in a register (the terms with m below
    /// the block are zero, as T_m is zero past m). Columns that do not fill a block of 16 go one by one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void InvertUnitLower(float* A, float* T, int n)
    {
        new Span<float>(T, n * n).Clear();
        for (int i = 0; i < n; i++)
        {
            float* ti = T + (long)i * n, ai = A + (long)i * n;
            int j0 = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; j0 < i && j0 + 16 <= n; j0 += 16)
                {
                    var acc = Vector512<float>.Zero;
                    for (int m = j0; m < i; m++) acc = Vector512.FusedMultiplyAdd(Vector512.Create(-ai[m]), Vector512.Load(T + (long)m * n + j0), acc);
                    acc.Store(ti + j0);   // columns ≥ i of the block get 0, as they must
                }
            for (int j = j0; j < i; j++)
            {
                float sum = 0;
                for (int m = j; m < i; m++) sum -= ai[m] * T[(long)m * n + j];
                ti[j] = sum;
            }
            ti[i] = 1f;
        }
    }

    /// <summary>Scalar reference of <see cref="InvertUnitLower"/>: T_ij = −Σ_{j≤m &lt; i} A_im T_mj, in double.</summary>
    internal static void InvertUnitLowerReference(float* A, float* T, int n)
    {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                if (j >= i) { T[(long)i * n + j] = j == i ? 1f : 0f; continue; }
                double sum = 0;
                for (int m = j; m < i; m++) sum -= (double)A[(long)i * n + m] * T[(long)m * n + j];
                T[(long)i * n + j] = (float)sum;
            }
    }

    /// <summary>S ← e^(G_last) S + Kdᵀ Δ: the state after the chunk.</summary>
    static void Advance(DeltaGeometry geo, int n, float* S, in Scratch s)
    {
        TP.Multiply(new ReadOnlySpan<float>(S, geo.StateSize), s.Ea[n - 1], new Span<float>(S, geo.StateSize));
        Gemm.Multiply(true, false, geo.Dk, geo.Dv, n, 1f, s.Kd, geo.Dk, s.Delta, geo.Dv, 1f, S, geo.Dv);
    }

    /// <summary>
    /// Forward of (b, h) over all its chunks: o rows written (when o is not null), the chunk-start states copied to
    /// <paramref name="saved"/> (when not null: (b, h)'s own, one state per chunk), the final state to
    /// <paramref name="final"/>. <paramref name="initial"/> (or zero) starts the row's first sequence; later ones start at 0.
    /// </summary>
    public static void Forward(DeltaGeometry geo, int b, int h, float* q, float* k, float* v, float* g, float* beta,
        float* o, float* initial, float* final, float* saved, float* S, in Scratch s)
    {
        int dk = geo.Dk, dv = geo.Dv;
        var state = new Span<float>(S, geo.StateSize);
        var chunks = geo.Chunks[b];
        for (int c = 0; c < chunks.Length; c++)
        {
            var ch = chunks[c];
            if (ch.First)
            {
                if (ch.Start == 0 && initial != null) new ReadOnlySpan<float>(initial + geo.StateAt(b, h), geo.StateSize).CopyTo(state);
                else state.Clear();
            }
            if (saved != null) state.CopyTo(new Span<float>(saved + (long)c * geo.StateSize, geo.StateSize));
            int n = ch.Length;
            float* qc = q + geo.QAt(b, ch.Start, h), kc = k + geo.QAt(b, ch.Start, h);
            Prepare(geo, n, qc, kc, v + geo.VAt(b, ch.Start, h), g + geo.GAt(b, ch.Start, h), beta + geo.GAt(b, ch.Start, h), S, s, o != null, forBackward: false);
            if (o != null)
            {
                // O = Qg S + P Δ: the read of the chunk-start state plus the intra-chunk writes (diagonal included)
                float* oc = o + geo.VAt(b, ch.Start, h);
                Gemm.Multiply(false, false, n, dv, dk, 1f, s.Qg, dk, S, dv, 0f, oc, geo.VRow);
                Gemm.Multiply(false, false, n, dv, n, 1f, s.P, n, s.Delta, dv, 1f, oc, geo.VRow);
            }
            Advance(geo, n, S, s);
        }
        if (final != null) state.CopyTo(new Span<float>(final + geo.StateAt(b, h), geo.StateSize));
    }

    /// <summary>
    /// Backward of (b, h), chunks in reverse (docs/spec/QWEN3_5.md "Chunked backward"). <paramref name="saved"/> holds the chunk-start
    /// states of (b, h), one per chunk (the forward's, or recomputed by the caller). dq and dk
    /// are accumulated (value heads sharing a q/k head must run on one thread, one after another); dv, dg, dbeta too.
    /// </summary>
    public static void Backward(DeltaGeometry geo, int b, int h, float* q, float* k, float* v, float* g, float* beta, float* dout,
        float* saved, float* dq, float* dk, float* dv, float* dg, float* dbeta, float* dSnext, in Scratch s)
    {
        int Dk = geo.Dk, Dv = geo.Dv, qRow = geo.QRow, vRow = geo.VRow, hv = geo.Hv, size = geo.StateSize;
        var chunks = geo.Chunks[b];
        var dSn = new Span<float>(dSnext, size);
        dSn.Clear();   // the final state is an output without grad
        for (int c = chunks.Length - 1; c >= 0; c--)
        {
            var ch = chunks[c];
            int n = ch.Length;
            float* S = saved + (long)c * size;
            float* qc = q + geo.QAt(b, ch.Start, h), kc = k + geo.QAt(b, ch.Start, h), vc = v + geo.VAt(b, ch.Start, h);
            float* dqc = dq + geo.QAt(b, ch.Start, h), dkc = dk + geo.QAt(b, ch.Start, h), dvc = dv + geo.VAt(b, ch.Start, h);
            float* doc = dout + geo.VAt(b, ch.Start, h);
            Prepare(geo, n, qc, kc, vc, g + geo.GAt(b, ch.Start, h), beta + geo.GAt(b, ch.Start, h), S, s, forOutput: true, forBackward: true);
            float el = s.Ea[n - 1];
            // the decay gradients are sums of terms that largely cancel (each e^(G_i − G_j) adds to dG_i and takes from
            // dG_j, then dg is a suffix sum): accumulated in double
            var dG = new Span<double>(s.DG, n);
            dG.Clear();

            // O = Qg S + P Δ:  dQg = dO Sᵀ, dS = Qgᵀ dO, dP = dO Δᵀ, dΔ = Pᵀ dO
            Gemm.Multiply(false, true, n, Dk, Dv, 1f, doc, vRow, S, Dv, 0f, s.DQg, Dk);
            Gemm.Multiply(true, false, Dk, Dv, n, 1f, s.Qg, Dk, doc, vRow, 0f, s.DS, Dv);
            Gemm.Multiply(false, true, n, n, Dv, 1f, doc, vRow, s.Delta, Dv, 0f, s.DP, n);
            Gemm.Multiply(true, false, n, Dv, n, 1f, s.P, n, doc, vRow, 0f, s.DDelta, Dv);
            // S' = e^(G_last) S + Kdᵀ Δ:  dΔ += Kd dS', dKd = Δ dS'ᵀ, dS += e^(G_last) dS', dG_last += e^(G_last) ⟨S, dS'⟩
            Gemm.Multiply(false, false, n, Dv, Dk, 1f, s.Kd, Dk, dSnext, Dv, 1f, s.DDelta, Dv);
            Gemm.Multiply(false, true, n, Dk, Dv, 1f, s.Delta, Dv, dSnext, Dv, 0f, s.DKd, Dk);
            dG[n - 1] += el * TP.Dot(new ReadOnlySpan<float>(S, size), dSn);
            TP.MultiplyAdd(dSn, el, new Span<float>(s.DS, size), new Span<float>(s.DS, size));
            // Δ = U − W S:  dU = dΔ, dW = −dΔ Sᵀ, dS −= Wᵀ dΔ
            Gemm.Multiply(false, true, n, Dk, Dv, -1f, s.DDelta, Dv, S, Dv, 0f, s.DW, Dk);
            Gemm.Multiply(true, false, Dk, Dv, n, -1f, s.W, Dk, s.DDelta, Dv, 1f, s.DS, Dv);
            // U = T Bu, W = T Bw:  dBu = Tᵀ dU, dBw = Tᵀ dW; T = (I + A)⁻¹: dA = −strictly-lower(Tᵀ (dU Uᵀ + dW Wᵀ))
            Gemm.Multiply(true, false, n, Dv, n, 1f, s.Tm, n, s.DDelta, Dv, 0f, s.DBu, Dv);
            Gemm.Multiply(true, false, n, Dk, n, 1f, s.Tm, n, s.DW, Dk, 0f, s.DBw, Dk);
            Gemm.Multiply(false, true, n, n, Dv, 1f, s.DDelta, Dv, s.U, Dv, 0f, s.X, n);
            Gemm.Multiply(false, true, n, n, Dk, 1f, s.DW, Dk, s.W, Dk, 1f, s.X, n);
            Gemm.Multiply(true, false, n, n, n, -1f, s.Tm, n, s.X, n, 0f, s.DA, n);

            for (int i = 0; i < n; i++)
            {
                var dQg = new ReadOnlySpan<float>(s.DQg + i * Dk, Dk);
                // Qg = Q ⊙ e^G:  dq += e^G_i dQg_i, dG_i += ⟨dQg_i, Qg_i⟩
                dG[i] += TP.Dot(dQg, new ReadOnlySpan<float>(s.Qg + i * Dk, Dk));
                var dqi = new Span<float>(dqc + (long)i * qRow, Dk);
                TP.MultiplyAdd(dQg, s.Ea[i], dqi, dqi);
                // Kd_i = k_i e^(G_last − G_i):  dk_i += e^(G_last − G_i) dKd_i, dG_i −= f_i, dG_last += f_i
                var dKd = new ReadOnlySpan<float>(s.DKd + i * Dk, Dk);
                float f = TP.Dot(dKd, new ReadOnlySpan<float>(s.Kd + i * Dk, Dk));
                dG[i] -= f; dG[n - 1] += f;
                var dki = new Span<float>(dkc + (long)i * qRow, Dk);
                TP.MultiplyAdd(dKd, s.D[(n - 1) * n + i], dki, dki);
                // Bu = β V:  dv_i += β_i dBu_i, dβ_i += ⟨dBu_i, v_i⟩
                var dBu = new ReadOnlySpan<float>(s.DBu + i * Dv, Dv);
                var dvi = new Span<float>(dvc + (long)i * vRow, Dv);
                TP.MultiplyAdd(dBu, s.Beta[i], dvi, dvi);
                float dbi = TP.Dot(dBu, new ReadOnlySpan<float>(vc + (long)i * vRow, Dv));
                // Bw = β e^G K:  dk_i += β_i e^G_i dBw_i, dβ_i += e^G_i ⟨dBw_i, k_i⟩, dG_i += ⟨dBw_i, Bw_i⟩
                var dBw = new ReadOnlySpan<float>(s.DBw + i * Dk, Dk);
                TP.MultiplyAdd(dBw, s.Beta[i] * s.Ea[i], dki, dki);
                dbi += s.Ea[i] * TP.Dot(dBw, new ReadOnlySpan<float>(kc + (long)i * qRow, Dk));
                dG[i] += TP.Dot(dBw, new ReadOnlySpan<float>(s.Bw + i * Dk, Dk));
                // P_ij = (q_i·k_j) e^(G_i − G_j), j ≤ i:  dG_i += Σ_j dP_ij P_ij, dG_j −= the same; dP ← dP ⊙ D
                // A_ij = β_i KKe_ij, j < i:  dβ_i += Σ_j dA_ij KKe_ij, dG_i += Σ_j dA_ij A_ij, dG_j −= the same; dA ← β_i dA ⊙ D
                var dp = new Span<float>(s.DP + i * n, n); var da = new Span<float>(s.DA + i * n, n);
                var p = new ReadOnlySpan<float>(s.P + i * n, i + 1); var a = new ReadOnlySpan<float>(s.A + i * n, i);
                var d = new ReadOnlySpan<float>(s.D + i * n, i + 1); var e = new Span<float>(s.X + i * n, i + 1);   // X is free now
                TP.Multiply(dp[..(i + 1)], p, e);
                dG[i] += TP.Sum(e);
                for (int j = 0; j <= i; j++) dG[j] -= e[j];
                TP.Multiply(dp[..(i + 1)], d, dp[..(i + 1)]);
                dp[(i + 1)..].Clear();
                TP.Multiply(da[..i], a, e[..i]);
                dG[i] += TP.Sum(e[..i]);
                for (int j = 0; j < i; j++) dG[j] -= e[j];
                dbi += TP.Dot(da[..i], new ReadOnlySpan<float>(s.KKe + i * n, i));
                TP.Multiply(da[..i], d[..i], da[..i]);
                TP.Multiply(da[..i], s.Beta[i], da[..i]);
                da[i..].Clear();
                dbeta[geo.GAt(b, ch.Start + i, h)] += dbi;
            }
            // dq += dP K, dk += dPᵀ Q (dP masked and decayed); dk += Mβ K + Mβᵀ K with Mβ = diag(β)(dA ⊙ D)
            Gemm.Multiply(false, false, n, Dk, n, 1f, s.DP, n, kc, qRow, 1f, dqc, qRow);
            Gemm.Multiply(true, false, n, Dk, n, 1f, s.DP, n, qc, qRow, 1f, dkc, qRow);
            Gemm.Multiply(false, false, n, Dk, n, 1f, s.DA, n, kc, qRow, 1f, dkc, qRow);
            Gemm.Multiply(true, false, n, Dk, n, 1f, s.DA, n, kc, qRow, 1f, dkc, qRow);
            // g_i enters every G_m with m ≥ i: dg = suffix sum of dG
            double acc = 0;
            for (int i = n - 1; i >= 0; i--) { acc += dG[i]; dg[geo.GAt(b, ch.Start + i, h)] += (float)acc; }
            // the chunk-start state's gradient flows into the previous chunk, unless the state was reset here
            if (ch.First) dSn.Clear();
            else new ReadOnlySpan<float>(s.DS, size).CopyTo(dSn);
        }
    }

    /// <summary>
    /// One token of the recurrent form for one (b, h), in place on S [Dk, Dv] (docs/spec/QWEN3_5.md "Recurrence"):
    /// S ← e^g S; e = Sᵀk; Δ = β(v − e); S += k Δᵀ; o = Sᵀ q. Vectorised over the rows of S.
    /// </summary>
    public static void Step(int dk, int dv, float* S, float* q, float* k, float* v, float g, float beta, float* o, float* work)
    {
        if (Vector512.IsHardwareAccelerated && dv % 16 == 0)
        {
            StepColumns(dk, dv, S, q, k, v, MathF.Exp(g), beta, o);
            return;
        }
        var e = new Span<float>(work, dv);
        var outv = new Span<float>(o, dv);
        e.Clear();
        float decay = MathF.Exp(g);
        for (int i = 0; i < dk; i++)
        {
            var row = new Span<float>(S + i * dv, dv);
            TP.Multiply(row, decay, row);
            TP.MultiplyAdd(row, k[i], e, e);
        }
        TP.Subtract(new ReadOnlySpan<float>(v, dv), e, e);
        TP.Multiply(e, beta, e);   // Δ
        outv.Clear();
        for (int i = 0; i < dk; i++)
        {
            var row = new Span<float>(S + i * dv, dv);
            TP.MultiplyAdd(e, k[i], row, row);
            TP.MultiplyAdd(row, q[i], outv, outv);
        }
    }

    /// <summary>
    /// <see cref="Step"/> 16 state columns at a time: every column of the recurrence is independent, so a block's
    /// prediction e, correction Δ and output stay in registers across its two passes over the rows of S.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void StepColumns(int dk, int dv, float* S, float* q, float* k, float* v, float decay, float beta, float* o)
    {
        var vd = Vector512.Create(decay);
        for (int c = 0; c < dv; c += 16)
        {
            var e = Vector512<float>.Zero;
            for (int i = 0; i < dk; i++)
            {
                float* r = S + (long)i * dv + c;
                var row = Vector512.Load(r) * vd;                                     // S ← e^g S
                row.Store(r);
                e = Vector512.FusedMultiplyAdd(row, Vector512.Create(k[i]), e);     // e = Sᵀk
            }
            var delta = (Vector512.Load(v + c) - e) * Vector512.Create(beta);       // Δ = β(v − e)
            var acc = Vector512<float>.Zero;
            for (int i = 0; i < dk; i++)
            {
                float* r = S + (long)i * dv + c;
                var row = Vector512.FusedMultiplyAdd(delta, Vector512.Create(k[i]), Vector512.Load(r));   // S += kΔᵀ
                row.Store(r);
                acc = Vector512.FusedMultiplyAdd(row, Vector512.Create(q[i]), acc);                     // o = Sᵀq
            }
            acc.Store(o + c);
        }
    }
}
