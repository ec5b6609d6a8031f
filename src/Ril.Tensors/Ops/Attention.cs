using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Ril.Tensors.Autograd;
using Ril.Tensors.Kernels;
using Ril.Tensors.Memory;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Ril.Tensors;

/// <summary>Where a query may look: causal order, left/right padding of keys, sequences packed into one row.</summary>
/// <param name="Causal">Query t (at absolute position QueryOffset + t) sees keys j ≤ QueryOffset + t.</param>
/// <param name="KeyValid">Optional [B·S] flags; false keys (padding) are never attended to.</param>
/// <param name="QueryOffset">Position of the first query among the keys; −1 means S − T (queries are the last T keys).</param>
/// <param name="Segments">Optional [B·S] sequence numbers of packed rows: query t sees only keys of its own position's
/// number, so several sequences laid end to end in one row attend each to itself alone.</param>
/// <param name="Prefixes">Optional [B·S], with <paramref name="Segments"/>: the number of the segment each position's
/// sequence continues (−1: none). Query t also sees that segment's keys, so several responses laid after one shared
/// prompt each attend to the prompt and to themselves, as if each followed its own copy of it.</param>
public sealed record AttentionMask(bool Causal = true, bool[]? KeyValid = null, int QueryOffset = -1, int[]? Segments = null, int[]? Prefixes = null);

public static partial class Ops
{
    /// <summary>
    /// Scaled dot-product attention with grouped-query heads, in the projection layout (no transposes needed):
    /// q [B, T, Hq, D], k and v [B, S, Hkv, D], Hq a multiple of Hkv; output [B, T, Hq, D].
    /// softmax(q·kᵀ/√D + mask)·v per head. The probabilities are kept for backward (B·Hq·T·S floats).
    /// A query with no visible key (all padding) outputs zeros.
    /// </summary>
    public static unsafe Tensor Attention(Tensor q, Tensor k, Tensor v, AttentionMask? mask = null)
    {
        mask ??= new AttentionMask();
        if (q.Rank != 4 || k.Rank != 4 || !ShapeOf.Equal(k.Shape, v.Shape) || q.Shape[0] != k.Shape[0] || q.Shape[3] != k.Shape[3] || q.Shape[2] % k.Shape[2] != 0)
            throw new ArgumentException($"Attention: q {ShapeOf.Format(q.Shape)}, k {ShapeOf.Format(k.Shape)}, v {ShapeOf.Format(v.Shape)} must be [B,T,Hq,D], [B,S,Hkv,D], [B,S,Hkv,D] with Hq a multiple of Hkv");
        int b = q.Shape[0], t = q.Shape[1], hq = q.Shape[2], d = q.Shape[3], s = k.Shape[1], hkv = k.Shape[2];
        if (mask.KeyValid is not null && mask.KeyValid.Length != b * s)
            throw new ArgumentException($"Attention: KeyValid has {mask.KeyValid.Length} flags, expected B·S = {b * s}");
        int queryOffset = mask.QueryOffset < 0 ? s - t : mask.QueryOffset;
        if (mask.Segments is not null && (mask.Segments.Length != b * s || queryOffset < 0 || queryOffset + t > s))
            throw new ArgumentException($"Attention: Segments has {mask.Segments.Length} numbers for B·S = {b * s} keys; each query must be one of the keys (T {t}, S {s}, query offset {queryOffset})");
        if (mask.Prefixes is not null && (mask.Segments is null || mask.Prefixes.Length != b * s))
            throw new ArgumentException($"Attention: Prefixes needs Segments beside it and B·S = {b * s} numbers (it has {mask.Prefixes.Length})");
        var geo = new AttentionGeometry(b, t, s, hq, hkv, d, queryOffset, mask.Causal, mask.KeyValid, mask.Segments,
            qRow: hq * d, kvRow: hkv * d, kvBatch: s * hkv * d) { Prefixes = mask.Prefixes };
        var o = Tensor.Empty([b, t, hq, d]);
        bool record = Tape.Needs([q, k, v]);
        var probs = record ? BufferPool.Rent(b * hq * t * s, clear: false) : null;
        fixed (float* pq = q.Buffer, pk = k.Buffer, pv = v.Buffer, po = o.Buffer)
        fixed (float* pp = probs)
            AttentionKernels.Forward(geo, pq + q.Offset, pk + k.Offset, pv + v.Offset, po + o.Offset, pp);
        if (!record) return o;
        return Tape.Record(o, "Attention", [q, k, v], r =>
        {
            q.GradData(); k.GradData(); v.GradData();
            fixed (float* pq = q.Buffer, pk = k.Buffer, pv = v.Buffer, pp = probs, pg = r.Grad!.Buffer)
            fixed (float* dq = q.Grad!.Buffer, dk = k.Grad!.Buffer, dv = v.Grad!.Buffer)
                AttentionKernels.Backward(geo, pq + q.Offset, pk + k.Offset, pv + v.Offset, pp, pg + r.Grad.Offset, dq, dk, dv);
            BufferPool.Return(probs!);
        });
    }
}

/// <summary>Sizes and strides of one attention call. Rows of q/o are qRow floats apart, rows of k/v kvRow apart.</summary>
internal readonly record struct AttentionGeometry(int B, int T, int S, int Hq, int Hkv, int D, int QueryOffset, bool Causal,
    bool[]? KeyValid, int[]? Segments, int qRow, int kvRow, int kvBatch, int KeyValidStride = 0)
{
    /// <summary>Flags per batch row in <see cref="KeyValid"/>: S unless the flags lie in wider rows (a KV cache's capacity).</summary>
    public int ValidRow => KeyValidStride > 0 ? KeyValidStride : S;
    /// <summary><see cref="AttentionMask.Prefixes"/>: the segment each query's sequence continues, whose keys it sees too.</summary>
    public int[]? Prefixes { get; init; }
    public float Scale => 1f / MathF.Sqrt(D);
    public int Group => Hq / Hkv;
    /// <summary>Number of keys query t may see under the causal rule (all S when not causal).</summary>
    public int VisibleKeys(int t) => Causal ? Math.Clamp(QueryOffset + t + 1, 0, S) : S;
    /// <summary>Queries handled together: causal blocks skip the keys none of their queries can see.</summary>
    public int QueryBlock => Causal ? 64 : Math.Max(T, 1);
}

/// <summary>Per-head attention on raw pointers, one head per pool task; GEMMs inside a task run on that task's thread.</summary>
internal static unsafe class AttentionKernels
{
    /// <summary>o = softmax(mask(q·kᵀ·scale))·v; probabilities written to <paramref name="probs"/> ([B, Hq, T, S]) when not null.</summary>
    public static void Forward(AttentionGeometry g, float* q, float* k, float* v, float* o, float* probs)
    {
        if (g.T == 1 && Vector512.IsHardwareAccelerated)
        {
            ForwardOneQuery(g, q, k, v, o, probs);
            return;
        }
        nint qp = (nint)q, kp = (nint)k, vp = (nint)v, op = (nint)o, pp = (nint)probs;
        WorkerPool.Shared.For(g.B * g.Hq, task =>
        {
            int bi = task / g.Hq, h = task % g.Hq, kvh = h / g.Group;
            float* qh = (float*)qp + (long)bi * g.T * g.qRow + h * g.D;
            float* kh = (float*)kp + (long)bi * g.kvBatch + kvh * g.D;
            float* vh = (float*)vp + (long)bi * g.kvBatch + kvh * g.D;
            float* oh = (float*)op + (long)bi * g.T * g.qRow + h * g.D;
            var scratch = pp == 0 ? BufferPool.Rent(g.T * g.S, clear: false) : null;
            fixed (float* sp = scratch)
            {
                float* p = pp != 0 ? (float*)pp + (long)task * g.T * g.S : sp;
                for (int t0 = 0; t0 < g.T; t0 += g.QueryBlock)
                {
                    int rows = Math.Min(g.QueryBlock, g.T - t0), visible = g.VisibleKeys(t0 + rows - 1);
                    float* pb = p + (long)t0 * g.S;
                    // scores = q·kᵀ/√D, only over the keys some query of the block can see
                    if (visible > 0) Gemm.Multiply(false, true, rows, visible, g.D, g.Scale, qh + (long)t0 * g.qRow, g.qRow, kh, g.kvRow, 0f, pb, g.S);
                    for (int t = t0; t < t0 + rows; t++) MaskedSoftmaxRow(g, bi, t, new Span<float>(p + (long)t * g.S, g.S));
                    float* ob = oh + (long)t0 * g.qRow;
                    if (visible > 0) Gemm.Multiply(false, false, rows, g.D, visible, 1f, pb, g.S, vh, g.kvRow, 0f, ob, g.qRow);   // o = P·v
                    else for (int t = 0; t < rows; t++) new Span<float>(ob + (long)t * g.qRow, g.D).Clear();
                }
            }
            if (scratch is not null) BufferPool.Return(scratch);
        });
    }

    /// <summary>Rows of k/v prefetched ahead of the one being read by <see cref="ForwardOneQuery"/>.</summary>
    internal static int PrefetchRows = 4;

    /// <summary>
    /// <see cref="Forward"/> for one query per batch row (a decoding step over the KV cache). A task takes a batch row
    /// and a range of its kv heads (all of them when there are batch rows enough to keep the threads busy): it reads
    /// the keys position by position — for a batch row all heads of a position are one contiguous row, so the cache
    /// streams from memory in order — and each score is one vector dot product; then a softmax per query head;
    /// then o += p[j]·v[j] for the positions in order, again streaming the values row by row. Rows a few positions
    /// ahead are prefetched (a cache row of 8 heads × 64 floats spans a 4 KiB page every two positions, where the
    /// hardware prefetchers stop). Each output is the same FMA chain over the positions in order as the general path's
    /// P·v product; each score is a 16-lane dot product over D, summed across lanes at the end. Which task computes a
    /// head never changes its arithmetic, so results do not depend on the thread count.
    /// </summary>
    static void ForwardOneQuery(AttentionGeometry g, float* q, float* k, float* v, float* o, float* probs)
    {
        int threads = WorkerPool.Shared.AvailableThreads;
        // Chunks of kv heads per batch row: enough tasks for ~4 per thread, whole rows when the batch suffices.
        int chunks = Math.Clamp((4 * threads + g.B - 1) / g.B, 1, g.Hkv);
        var job = new OneQueryJob { G = g, Q = q, K = k, V = v, O = o, Probs = probs, Chunks = chunks };
        // The job lives in this frame until the synchronous For returns, so the GC keeps seeing G.KeyValid and G.Segments.
#pragma warning disable CS8500
        WorkerPool.Shared.For(g.B * chunks, &OneQueryTask, &job);
#pragma warning restore CS8500
    }

    struct OneQueryJob
    {
        public AttentionGeometry G;
        public float* Q, K, V, O, Probs;
        public int Chunks;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void OneQueryTask(void* state, int task)
    {
#pragma warning disable CS8500
        ref OneQueryJob job = ref *(OneQueryJob*)state;
#pragma warning restore CS8500
        var g = job.G;
        int bi = task / job.Chunks, chunk = task % job.Chunks;
        int kv0 = (int)((long)g.Hkv * chunk / job.Chunks), kv1 = (int)((long)g.Hkv * (chunk + 1) / job.Chunks);
        if (kv0 >= kv1) return;
        int group = g.Group, d = g.D, s = g.S, heads = (kv1 - kv0) * group, h0 = kv0 * group;
        int visible = g.VisibleKeys(0);
        float* qb = job.Q + (long)bi * g.qRow + (long)h0 * d;
        float* ob = job.O + (long)bi * g.qRow + (long)h0 * d;
        float* kb = job.K + (long)bi * g.kvBatch + (long)kv0 * d;
        float* vb = job.V + (long)bi * g.kvBatch + (long)kv0 * d;
        int span = (kv1 - kv0) * d;               // floats of one position's row that this task reads
        float[]? scratch = job.Probs == null ? BufferPool.Rent(heads * s, clear: false) : null;
        fixed (float* sp = scratch)
        {
            // Scores of query head h0 + i at row i·s (probs is [B, Hq, 1, S]).
            float* p = job.Probs != null ? job.Probs + ((long)bi * g.Hq + h0) * s : sp;
            long ahead = (long)PrefetchRows * g.kvRow;
            var tail = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(d & 15)).AsSingle();
            float scale = g.Scale;
            for (int j = 0; j < visible; j++)
            {
                float* kr = kb + (long)j * g.kvRow;
                if (j + PrefetchRows < visible) PrefetchSpan(kr + ahead, span);
                for (int kh = 0; kh < kv1 - kv0; kh++)
                    for (int t = 0; t < group; t++)
                    {
                        int i = kh * group + t;
                        p[(long)i * s + j] = scale * Dot(qb + (long)i * d, kr + kh * d, d, tail);
                    }
            }
            for (int i = 0; i < heads; i++) MaskedSoftmaxRow(g, bi, 0, new Span<float>(p + (long)i * s, s));

            new Span<float>(ob, heads * d).Clear();
            for (int j = 0; j < visible; j++)
            {
                float* vr = vb + (long)j * g.kvRow;
                if (j + PrefetchRows < visible) PrefetchSpan(vr + ahead, span);
                for (int kh = 0; kh < kv1 - kv0; kh++)
                    for (int t = 0; t < group; t++)
                    {
                        int i = kh * group + t;
                        Axpy(p[(long)i * s + j], vr + kh * d, ob + (long)i * d, d, tail);
                    }
            }
        }
        if (scratch != null) BufferPool.Return(scratch);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void PrefetchSpan(float* x, int floats)
    {
        for (int c = 0; c < floats; c += 16) Sse.Prefetch0(x + c);
    }

    /// <summary>Σ x[c]·y[c] over c &lt; d: 16-lane FMA chain (a masked last step), then the lanes summed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Dot(float* x, float* y, int d, Vector512<float> tail)
    {
        var acc = Vector512<float>.Zero;
        int c = 0;
        for (; c + 16 <= d; c += 16) acc = Vector512.FusedMultiplyAdd(Vector512.Load(x + c), Vector512.Load(y + c), acc);
        if (c < d) acc = Vector512.FusedMultiplyAdd(Avx512F.MaskLoad(x + c, tail, default), Avx512F.MaskLoad(y + c, tail, default), acc);
        return Vector512.Sum(acc);
    }

    /// <summary>o[c] = fma(a, x[c], o[c]) for c &lt; d.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Axpy(float a, float* x, float* o, int d, Vector512<float> tail)
    {
        var va = Vector512.Create(a);
        int c = 0;
        for (; c + 16 <= d; c += 16) Vector512.FusedMultiplyAdd(va, Vector512.Load(x + c), Vector512.Load(o + c)).Store(o + c);
        if (c < d)
            Avx512F.MaskStore(o + c, tail, Vector512.FusedMultiplyAdd(va, Avx512F.MaskLoad(x + c, tail, default), Avx512F.MaskLoad(o + c, tail, default)));
    }

    static void MaskedSoftmaxRow(in AttentionGeometry g, int bi, int t, Span<float> row)
    {
        int visible = g.VisibleKeys(t);
        row[visible..].Clear();
        var valid = g.KeyValid;
        if (valid is not null)
            for (int j = 0; j < visible; j++) if (!valid[bi * g.ValidRow + j]) row[j] = float.NegativeInfinity;
        var segments = g.Segments;
        if (segments is not null)
        {
            int at = bi * g.S + g.QueryOffset + t, own = segments[at], prefix = g.Prefixes?[at] ?? -1;
            for (int j = 0; j < visible; j++)
            {
                int key = segments[bi * g.S + j];
                if (key != own && (key != prefix || prefix < 0)) row[j] = float.NegativeInfinity;
            }
        }
        var live = row[..visible];
        if (visible == 0 || float.IsNegativeInfinity(TP.Max(live))) { live.Clear(); return; }
        Ops.SoftmaxRow(live, live);
    }

    /// <summary>
    /// dP = dO·vᵀ; dS = P ⊙ (dP − rowsum(dP ⊙ P))·scale; dq += dS·k; dk += dSᵀ·q; dv += Pᵀ·dO.
    /// One task per (batch, kv head) so the q heads sharing a kv head add into it in a fixed order.
    /// </summary>
    public static void Backward(AttentionGeometry g, float* q, float* k, float* v, float* probs, float* dout, float* dq, float* dk, float* dv)
    {
        nint qp = (nint)q, kp = (nint)k, vp = (nint)v, pp = (nint)probs, gp = (nint)dout, dqp = (nint)dq, dkp = (nint)dk, dvp = (nint)dv;
        WorkerPool.Shared.For(g.B * g.Hkv, task =>
        {
            int bi = task / g.Hkv, kvh = task % g.Hkv;
            long kvOff = (long)bi * g.kvBatch + kvh * g.D;
            var dsBuf = BufferPool.Rent(g.T * g.S, clear: false);
            fixed (float* ds = dsBuf)
                for (int h = kvh * g.Group; h < (kvh + 1) * g.Group; h++)
                {
                    long qOff = (long)bi * g.T * g.qRow + h * g.D;
                    float* p = (float*)pp + ((long)bi * g.Hq + h) * g.T * g.S;
                    float* go = (float*)gp + qOff;
                    for (int t0 = 0; t0 < g.T; t0 += g.QueryBlock)
                    {
                        int rows = Math.Min(g.QueryBlock, g.T - t0), visible = g.VisibleKeys(t0 + rows - 1);
                        if (visible == 0) continue;
                        float* pb = p + (long)t0 * g.S, gob = go + (long)t0 * g.qRow;
                        long qb = qOff + (long)t0 * g.qRow;
                        Gemm.Multiply(false, true, rows, visible, g.D, 1f, gob, g.qRow, (float*)vp + kvOff, g.kvRow, 0f, ds, g.S);   // dP = dO·vᵀ
                        for (int t = 0; t < rows; t++)
                        {
                            var pr = new Span<float>(pb + (long)t * g.S, visible);
                            var dr = new Span<float>(ds + (long)t * g.S, visible);
                            float dot = TP.Dot(pr, dr);
                            TP.Subtract(dr, dot, dr);
                            TP.Multiply(dr, pr, dr);
                            TP.Multiply(dr, g.Scale, dr);
                        }
                        Gemm.Multiply(false, false, rows, g.D, visible, 1f, ds, g.S, (float*)kp + kvOff, g.kvRow, 1f, (float*)dqp + qb, g.qRow);   // dq += dS·k
                        Gemm.Multiply(true, false, visible, g.D, rows, 1f, ds, g.S, (float*)qp + qb, g.qRow, 1f, (float*)dkp + kvOff, g.kvRow);  // dk += dSᵀ·q
                        Gemm.Multiply(true, false, visible, g.D, rows, 1f, pb, g.S, gob, g.qRow, 1f, (float*)dvp + kvOff, g.kvRow);              // dv += Pᵀ·dO
                    }
                }
            BufferPool.Return(dsBuf);
        });
    }
}
