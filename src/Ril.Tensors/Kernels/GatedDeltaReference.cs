namespace Ril.Tensors.Kernels;

/// <summary>
/// The gated delta rule in its recurrent form, token by token with plain scalar loops (docs/spec/QWEN3_5.md
/// "Recurrence"): the definition the chunked kernels are tested against. Saves every state.
/// Offsets and sizes come from <see cref="DeltaGeometry"/> (its chunks only mark where the state resets).
/// </summary>
internal static unsafe class GatedDeltaReference
{
    /// <summary>The state before position t of (b, h): the initial state (first sequence, t = 0), zero at another
    /// sequence's start, else the state after t − 1.</summary>
    static float* Previous(DeltaGeometry geo, int b, int h, int t, bool[] resets, float* states, float* initial, float* zero)
    {
        if (!resets[t]) return states + (long)(t - 1) * geo.StateSize;
        return t == 0 && initial != null ? initial + geo.StateAt(b, h) : zero;
    }

    static bool[] Resets(DeltaGeometry geo, int b)
    {
        var r = new bool[geo.T];
        foreach (var ch in geo.Chunks[b]) if (ch.First) r[ch.Start] = true;
        return r;
    }

    /// <summary>Forward of (b, h): o rows, every state S_t into <paramref name="states"/> ([T, Dk, Dv]), the last into final.</summary>
    public static void Forward(DeltaGeometry geo, int b, int h, float* q, float* k, float* v, float* g, float* beta,
        float* o, float* initial, float* final, float* states)
    {
        int dk = geo.Dk, dv = geo.Dv;
        var resets = Resets(geo, b);
        var zero = new float[geo.StateSize];
        var e = new double[dv];
        fixed (float* z = zero)
            for (int t = 0; t < geo.T; t++)
            {
                float* prev = Previous(geo, b, h, t, resets, states, initial, z), S = states + (long)t * geo.StateSize;
                float* qt = q + geo.QAt(b, t, h), kt = k + geo.QAt(b, t, h), vt = v + geo.VAt(b, t, h), ot = o + geo.VAt(b, t, h);
                float a = MathF.Exp(g[geo.GAt(b, t, h)]), bt = beta[geo.GAt(b, t, h)];
                for (int i = 0; i < dk * dv; i++) S[i] = a * prev[i];                                  // S ← e^g S
                for (int j = 0; j < dv; j++) { e[j] = 0; for (int i = 0; i < dk; i++) e[j] += (double)S[i * dv + j] * kt[i]; }   // e = Sᵀk
                for (int j = 0; j < dv; j++) e[j] = bt * (vt[j] - e[j]);                               // Δ = β(v − e)
                for (int i = 0; i < dk; i++) for (int j = 0; j < dv; j++) S[i * dv + j] += (float)(kt[i] * e[j]);   // S += k Δᵀ
                for (int j = 0; j < dv; j++)
                {
                    double s = 0;
                    for (int i = 0; i < dk; i++) s += (double)S[i * dv + j] * qt[i];                  // o = Sᵀq
                    ot[j] = (float)s;
                }
            }
        if (final != null)
            for (int i = 0; i < geo.StateSize; i++) final[geo.StateAt(b, h) + i] = states[(long)(geo.T - 1) * geo.StateSize + i];
    }

    /// <summary>Backward of (b, h) in reverse time from the saved states; all gradients accumulated.</summary>
    public static void Backward(DeltaGeometry geo, int b, int h, float* q, float* k, float* v, float* g, float* beta, float* dout,
        float* initial, float* states, float* dq, float* dk, float* dv, float* dg, float* dbeta)
    {
        int Dk = geo.Dk, Dv = geo.Dv;
        var resets = Resets(geo, b);
        var zero = new float[geo.StateSize];
        var dS = new double[geo.StateSize];
        var e = new double[Dv]; var delta = new double[Dv]; var dDelta = new double[Dv];
        fixed (float* z = zero)
            for (int t = geo.T - 1; t >= 0; t--)
            {
                float* prev = Previous(geo, b, h, t, resets, states, initial, z), S = states + (long)t * geo.StateSize;
                float* qt = q + geo.QAt(b, t, h), kt = k + geo.QAt(b, t, h), vt = v + geo.VAt(b, t, h), dot = dout + geo.VAt(b, t, h);
                float* dqt = dq + geo.QAt(b, t, h), dkt = dk + geo.QAt(b, t, h), dvt = dv + geo.VAt(b, t, h);
                long gi = geo.GAt(b, t, h);
                double a = Math.Exp(g[gi]), bt = beta[gi];
                // recompute e = (aS_prev)ᵀk and Δ
                for (int j = 0; j < Dv; j++) { e[j] = 0; for (int i = 0; i < Dk; i++) e[j] += a * prev[i * Dv + j] * kt[i]; delta[j] = bt * (vt[j] - e[j]); }
                // o = S_tᵀ q:  dq += S_t do, dS += q doᵀ
                for (int i = 0; i < Dk; i++)
                {
                    double s = 0;
                    for (int j = 0; j < Dv; j++) { s += (double)S[i * Dv + j] * dot[j]; dS[i * Dv + j] += (double)qt[i] * dot[j]; }
                    dqt[i] += (float)s;
                }
                // S_t = S̃ + kΔᵀ:  dk += dS Δ, dΔ = dSᵀ k
                for (int j = 0; j < Dv; j++) { dDelta[j] = 0; for (int i = 0; i < Dk; i++) dDelta[j] += dS[i * Dv + j] * kt[i]; }
                for (int i = 0; i < Dk; i++) { double s = 0; for (int j = 0; j < Dv; j++) s += dS[i * Dv + j] * delta[j]; dkt[i] += (float)s; }
                // Δ = β(v − e):  dv += β dΔ, dβ += ⟨v − e, dΔ⟩, de = −β dΔ
                double db = 0;
                for (int j = 0; j < Dv; j++) { dvt[j] += (float)(bt * dDelta[j]); db += (vt[j] - e[j]) * dDelta[j]; dDelta[j] *= -bt; }
                dbeta[gi] += (float)db;
                // e = S̃ᵀk:  dS̃ += k deᵀ, dk += S̃ de;  S̃ = e^g S_prev: dg += ⟨S̃, dS̃⟩, dS_prev = e^g dS̃
                double dga = 0;
                for (int i = 0; i < Dk; i++)
                {
                    double s = 0;
                    for (int j = 0; j < Dv; j++)
                    {
                        double st = a * prev[i * Dv + j];
                        s += st * dDelta[j];
                        dS[i * Dv + j] += kt[i] * dDelta[j];
                        dga += st * dS[i * Dv + j];
                        dS[i * Dv + j] *= a;
                    }
                    dkt[i] += (float)s;
                }
                dg[gi] += (float)dga;
                if (resets[t]) Array.Clear(dS);   // the state before a reset is not read
            }
    }
}
