using Ril.Tensors.Autograd;
using Ril.Tensors.Kernels;
using Ril.Tensors.Memory;

namespace Ril.Tensors;

/// <summary>Options of <see cref="Ops.GatedDeltaRule"/>.</summary>
public sealed class GatedDeltaOptions
{
    /// <summary>Positions per chunk of the chunked form (the result is the same for any size up to rounding).</summary>
    public int ChunkSize { get; init; } = 64;
    /// <summary>[B, Hv, Dk, Dv]: the state before position 0 of each row (constant, no grad); zeros when null.</summary>
    public Tensor? InitialState { get; init; }
    /// <summary>[B, Hv, Dk, Dv], written with the state after each row's last position (of its last packed sequence).
    /// May be the <see cref="InitialState"/> tensor itself (a decoding cache continued in place).</summary>
    public Tensor? FinalState { get; init; }
    /// <summary>[B·T] sequence numbers as in <see cref="AttentionMask.Segments"/>: the state resets to zero where the
    /// number changes from t−1 to t (sequences packed into one row).</summary>
    public int[]? Segments { get; init; }
    /// <summary>Backward recomputes the chunk-start states from the inputs instead of keeping them from the forward
    /// (saves Dk·Dv floats per chunk and value head between forward and backward).</summary>
    public bool RecomputeStates { get; init; }
    /// <summary>Use the recurrent form with scalar loops (the reference the chunked form is tested against; slow,
    /// keeps every position's state for backward).</summary>
    public bool Recurrent { get; init; }
}

/// <summary>The gated delta rule of Gated DeltaNet layers (Qwen3.5, Qwen3-Next): chunked for prefill and training, one
/// step at a time for decoding.</summary>
public static partial class Ops
{
    /// <summary>Bytes the last <see cref="GatedDeltaRule"/> on this thread kept for its backward beyond its inputs
    /// (chunk-start states; every state in the recurrent form; 0 without grad or with recomputation).</summary>
    [ThreadStatic] internal static long GatedDeltaSavedBytes;

    /// <summary>
    /// The gated delta rule (docs/spec/QWEN3_5.md "Gated DeltaNet ops"): per (batch row, value head) a state S [Dk, Dv],
    /// for each position S ← e^g S; S += k (β(v − Sᵀk))ᵀ; o = Sᵀq (read after the write).
    /// q, k [B, T, Hk, Dk] (already L2-normalised, q already scaled: nothing is normalised here); v [B, T, Hv, Dv];
    /// g [B, T, Hv] the log-decay (≤ 0); beta [B, T, Hv]. Hv a multiple of Hk: value head h uses q/k head h / (Hv/Hk).
    /// Returns o [B, T, Hv, Dv]. Differentiable in q, k, v, g and beta.
    /// </summary>
    public static unsafe Tensor GatedDeltaRule(Tensor q, Tensor k, Tensor v, Tensor g, Tensor beta, GatedDeltaOptions? options = null)
    {
        options ??= new GatedDeltaOptions();
        if (q.Rank != 4 || !ShapeOf.Equal(q.Shape, k.Shape) || v.Rank != 4 || v.Shape[0] != q.Shape[0] || v.Shape[1] != q.Shape[1]
            || v.Shape[2] % q.Shape[2] != 0 || !ShapeOf.Equal(g.Shape, v.Shape.AsSpan(0, 3)) || !ShapeOf.Equal(beta.Shape, g.Shape))
            throw new ArgumentException($"GatedDeltaRule: q {ShapeOf.Format(q.Shape)}, k {ShapeOf.Format(k.Shape)}, v {ShapeOf.Format(v.Shape)}, g {ShapeOf.Format(g.Shape)}, beta {ShapeOf.Format(beta.Shape)} must be [B,T,Hk,Dk], [B,T,Hk,Dk], [B,T,Hv,Dv], [B,T,Hv], [B,T,Hv] with Hv a multiple of Hk");
        if (options.ChunkSize < 1) throw new ArgumentException($"GatedDeltaRule: ChunkSize {options.ChunkSize} must be at least 1");
        int b = q.Shape[0], t = q.Shape[1], hk = q.Shape[2], dk = q.Shape[3], hv = v.Shape[2], dv = v.Shape[3];
        int[] stateShape = [b, hv, dk, dv];
        foreach (var (state, name) in new[] { (options.InitialState, "InitialState"), (options.FinalState, "FinalState") })
            if (state is not null && !ShapeOf.Equal(state.Shape, stateShape))
                throw new ArgumentException($"GatedDeltaRule: {name} {ShapeOf.Format(state.Shape)} must be [B, Hv, Dk, Dv] = {ShapeOf.Format(stateShape)}");
        var geo = new DeltaGeometry(b, t, hk, hv, dk, dv, options.Recurrent ? Math.Max(t, 1) : options.ChunkSize, RunStarts(options.Segments, b, t, "GatedDeltaRule"));
        var o = Tensor.Empty([b, t, hv, dv]);
        GatedDeltaSavedBytes = 0;
        if (t == 0)
        {
            if (options.FinalState is { } empty) { if (options.InitialState is null) empty.Data.Clear(); else options.InitialState.Data.CopyTo(empty.Data); }
            return o;
        }
        bool record = Tape.Needs([q, k, v, g, beta]), recurrent = options.Recurrent, recompute = options.RecomputeStates && !recurrent;
        // Kept for backward: every state (recurrent) or each chunk's start state (chunked, unless recomputed).
        long savedFloats = !record || recompute ? 0 : recurrent ? (long)b * hv * t * geo.StateSize : (long)geo.TotalChunks * hv * geo.StateSize;
        var saved = savedFloats > 0 ? BufferPool.Rent(checked((int)savedFloats), clear: false) : null;
        GatedDeltaSavedBytes = savedFloats * sizeof(float);
        var initial = options.InitialState; var final = options.FinalState;
        fixed (float* pq = q.Buffer, pk = k.Buffer, pv = v.Buffer, pg = g.Buffer, pb = beta.Buffer, po = o.Buffer, ps = saved)
        fixed (float* pi = initial?.Buffer, pf = final?.Buffer)
        {
            nint qp = (nint)(pq + q.Offset), kp = (nint)(pk + k.Offset), vp = (nint)(pv + v.Offset), gp = (nint)(pg + g.Offset),
                bp = (nint)(pb + beta.Offset), op = (nint)(po + o.Offset), sp = (nint)ps,
                ip = pi == null ? 0 : (nint)(pi + initial!.Offset), fp = pf == null ? 0 : (nint)(pf + final!.Offset);
            WorkerPool.Shared.For(b * hv, task =>
            {
                int bi = task / hv, h = task % hv;
                if (recurrent)
                {
                    var own = sp == 0 ? BufferPool.Rent(t * geo.StateSize, clear: false) : null;
                    fixed (float* po2 = own)
                        GatedDeltaReference.Forward(geo, bi, h, (float*)qp, (float*)kp, (float*)vp, (float*)gp, (float*)bp, (float*)op,
                            (float*)ip, (float*)fp, sp != 0 ? (float*)sp + ((long)bi * hv + h) * t * geo.StateSize : po2);
                    if (own is not null) BufferPool.Return(own);
                    return;
                }
                var work = BufferPool.Rent(GatedDeltaKernels.Scratch.Floats(geo.ChunkSize, dk, dv, false) + geo.StateSize, clear: false);
                fixed (float* w = work)
                {
                    var scratch = GatedDeltaKernels.Scratch.Carve(w + geo.StateSize, geo.ChunkSize, dk, dv, false);
                    GatedDeltaKernels.Forward(geo, bi, h, (float*)qp, (float*)kp, (float*)vp, (float*)gp, (float*)bp, (float*)op,
                        (float*)ip, (float*)fp, sp != 0 ? (float*)sp + geo.SavedAt(bi, h) : null, w, scratch);
                }
                BufferPool.Return(work);
            });
        }
        if (!record) return o;
        // The backward reads the initial state as it is now (a decoding cache may be updated in place later).
        float[]? initialCopy = null;
        if (initial is not null) { initialCopy = BufferPool.Rent(initial.Length, clear: false); initial.Data.CopyTo(initialCopy); }
        return Tape.Record(o, "GatedDeltaRule", [q, k, v, g, beta], r =>
        {
            var (dq, dqOwn) = GradBuffer(q); var (dk_, dkOwn) = GradBuffer(k); var (dv_, dvOwn) = GradBuffer(v);
            var (dg, dgOwn) = GradBuffer(g); var (db, dbOwn) = GradBuffer(beta);
            fixed (float* pq = q.Buffer, pk = k.Buffer, pv = v.Buffer, pg = g.Buffer, pb = beta.Buffer, pgo = r.Grad!.Buffer, ps = saved)
            fixed (float* pi = initialCopy, ddq = dq.Buffer, ddk = dk_.Buffer, ddv = dv_.Buffer, ddg = dg.Buffer, ddb = db.Buffer)
            {
                nint qp = (nint)(pq + q.Offset), kp = (nint)(pk + k.Offset), vp = (nint)(pv + v.Offset), gp = (nint)(pg + g.Offset),
                    bp = (nint)(pb + beta.Offset), gop = (nint)(pgo + r.Grad.Offset), sp = (nint)ps, ip = (nint)pi,
                    dqp = (nint)(ddq + dq.Offset), dkp = (nint)(ddk + dk_.Offset), dvp = (nint)(ddv + dv_.Offset),
                    dgp = (nint)(ddg + dg.Offset), dbp = (nint)(ddb + db.Offset);
                // One task per (batch row, q/k head): the value heads sharing it add into dq and dk one after another.
                WorkerPool.Shared.For(b * hk, task =>
                {
                    int bi = task / hk, kh = task % hk, group = hv / hk;
                    int chunks = geo.Chunks[bi].Length;
                    if (recurrent)
                    {
                        for (int h = kh * group; h < (kh + 1) * group; h++)
                            GatedDeltaReference.Backward(geo, bi, h, (float*)qp, (float*)kp, (float*)vp, (float*)gp, (float*)bp, (float*)gop, (float*)ip,
                                (float*)sp + ((long)bi * hv + h) * t * geo.StateSize, (float*)dqp, (float*)dkp, (float*)dvp, (float*)dgp, (float*)dbp);
                        return;
                    }
                    int scratchFloats = GatedDeltaKernels.Scratch.Floats(geo.ChunkSize, dk, dv, true);
                    var work = BufferPool.Rent(scratchFloats + 2 * geo.StateSize + (recompute ? chunks * geo.StateSize : 0), clear: false);
                    fixed (float* w = work)
                    {
                        var scratch = GatedDeltaKernels.Scratch.Carve(w, geo.ChunkSize, dk, dv, true);
                        float* state = w + scratchFloats, dSnext = state + geo.StateSize, own = dSnext + geo.StateSize;
                        for (int h = kh * group; h < (kh + 1) * group; h++)
                        {
                            float* states = (float*)sp + (sp == 0 ? 0 : geo.SavedAt(bi, h));
                            if (recompute)
                            {
                                // the cheap state scan again, outputs skipped: only this (b, h)'s states live at once
                                GatedDeltaKernels.Forward(geo, bi, h, (float*)qp, (float*)kp, (float*)vp, (float*)gp, (float*)bp, null,
                                    (float*)ip, null, own, state, scratch);
                                states = own;
                            }
                            GatedDeltaKernels.Backward(geo, bi, h, (float*)qp, (float*)kp, (float*)vp, (float*)gp, (float*)bp, (float*)gop,
                                states, (float*)dqp, (float*)dkp, (float*)dvp, (float*)dgp, (float*)dbp, dSnext, scratch);
                        }
                    }
                    BufferPool.Return(work);
                });
            }
            if (saved is not null) BufferPool.Return(saved);
            if (initialCopy is not null) BufferPool.Return(initialCopy);
            foreach (var own in new[] { dqOwn, dkOwn, dvOwn, dgOwn, dbOwn }) own?.Release();
        });
    }

    /// <summary>The gradient tensor an op accumulates into: the input's own, or a temporary (returned as the second
    /// item, to release) for an input that needs none.</summary>
    static (Tensor grad, Tensor? temporary) GradBuffer(Tensor x)
    {
        if (x.RequiresGrad) { x.GradData(); return (x.Grad!, null); }
        Tensor tmp;
        using (TensorScope.Suspend()) tmp = Tensor.Empty((int[])x.Shape.Clone(), clear: true);
        return (tmp, tmp);
    }

    /// <summary>
    /// One decoding step of the gated delta rule, without grad (docs/spec/QWEN3_5.md "Recurrence"): state [B, Hv, Dk, Dv] is updated in
    /// place; q, k [B, Hk, Dk]; v [B, Hv, Dv]; g, beta [B, Hv]. Returns o [B, Hv, Dv].
    /// </summary>
    public static unsafe Tensor GatedDeltaStep(Tensor state, Tensor q, Tensor k, Tensor v, Tensor g, Tensor beta)
    {
        if (q.Rank != 3 || !ShapeOf.Equal(q.Shape, k.Shape) || v.Rank != 3 || v.Shape[0] != q.Shape[0] || v.Shape[1] % q.Shape[1] != 0
            || !ShapeOf.Equal(g.Shape, v.Shape.AsSpan(0, 2)) || !ShapeOf.Equal(beta.Shape, g.Shape)
            || !ShapeOf.Equal(state.Shape, [v.Shape[0], v.Shape[1], q.Shape[2], v.Shape[2]]))
            throw new ArgumentException($"GatedDeltaStep: state {ShapeOf.Format(state.Shape)}, q {ShapeOf.Format(q.Shape)}, k {ShapeOf.Format(k.Shape)}, v {ShapeOf.Format(v.Shape)}, g {ShapeOf.Format(g.Shape)}, beta {ShapeOf.Format(beta.Shape)} must be [B,Hv,Dk,Dv], [B,Hk,Dk], [B,Hk,Dk], [B,Hv,Dv], [B,Hv], [B,Hv] with Hv a multiple of Hk");
        int b = q.Shape[0], hk = q.Shape[1], dk = q.Shape[2], hv = v.Shape[1], dv = v.Shape[2];
        var geo = new DeltaGeometry(b, 1, hk, hv, dk, dv, 1, null);
        var o = Tensor.Empty([b, hv, dv]);
        fixed (float* ps = state.Buffer, pq = q.Buffer, pk = k.Buffer, pv = v.Buffer, pg = g.Buffer, pb = beta.Buffer, po = o.Buffer)
        {
            nint sp = (nint)(ps + state.Offset), qp = (nint)(pq + q.Offset), kp = (nint)(pk + k.Offset), vp = (nint)(pv + v.Offset),
                gp = (nint)(pg + g.Offset), bp = (nint)(pb + beta.Offset), op = (nint)(po + o.Offset);
            WorkerPool.Shared.For(b * hv, task =>
            {
                int bi = task / hv, h = task % hv;
                float* work = stackalloc float[dv];
                GatedDeltaKernels.Step(dk, dv, (float*)sp + geo.StateAt(bi, h), (float*)qp + geo.QAt(bi, 0, h), (float*)kp + geo.QAt(bi, 0, h),
                    (float*)vp + geo.VAt(bi, 0, h), ((float*)gp)[geo.GAt(bi, 0, h)], ((float*)bp)[geo.GAt(bi, 0, h)], (float*)op + geo.VAt(bi, 0, h), work);
            });
        }
        return o;
    }
}
