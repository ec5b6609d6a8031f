using Ril.Models.Families.Llama;
using Ril.Tensors;

namespace Ril.Models.Families.Qwen35;

/// <summary>
/// Qwen3.5's linear-attention mixer (docs/spec/QWEN3_5.md "The hybrid decoder"): projections to q‖k‖v, the output gate z, beta and the
/// decay; a causal depthwise conv over q‖k‖v with SiLU; L2-normalised q and k (q scaled by dk^−½); the gated delta rule
/// with one [dk, dv] state per value head (value head h reads key head h / (Hv/Hk)); the gated RMSNorm; out_proj.
/// Parameter names are the Hub's (…layers.N.linear_attn.*). It keeps no state of its own: a decoding state lives in the
/// <see cref="RecurrentCache"/> passed in.
/// </summary>
public sealed class GatedDeltaNet
{
    readonly int _hk, _hv, _dk, _dv, _kernel;
    readonly float _eps;
    public Tensor InProjQkv, InProjZ, InProjB, InProjA, Conv1d, DtBias, ALog, Norm, OutProj;

    public int KeyDim => _hk * _dk;
    public int ValueDim => _hv * _dv;
    /// <summary>Channels of the conv: q ‖ k ‖ v.</summary>
    public int ConvDim => 2 * KeyDim + ValueDim;

    public GatedDeltaNet(DecoderConfig c, string prefix, Rng? rng, float std)
    {
        (_hk, _hv, _dk, _dv, _kernel, _eps) = (c.LinearKeyHeads!.Value, c.LinearValueHeads!.Value, c.LinearKeyDim!.Value, c.LinearValueDim!.Value,
                                                c.LinearConvKernel!.Value, c.RmsNormEps);
        int d = c.HiddenSize;
        Tensor W(string name, int rows, int cols) => DecoderBlock.Matrix(rng, std, rows, cols).AsParameter(prefix + name);
        InProjQkv = W("in_proj_qkv.weight", ConvDim, d);
        InProjZ = W("in_proj_z.weight", ValueDim, d);
        InProjB = W("in_proj_b.weight", _hv, d);
        InProjA = W("in_proj_a.weight", _hv, d);
        Conv1d = (rng is null ? Tensor.Uninitialized(ConvDim, 1, _kernel) : Tensor.Randn(rng, 0.2f, ConvDim, 1, _kernel)).AsParameter(prefix + "conv1d.weight");
        DtBias = Tensor.Ones(_hv).AsParameter(prefix + "dt_bias");
        ALog = Tensor.Zeros(_hv).AsParameter(prefix + "A_log");                  // A = 1
        Norm = Tensor.Ones(_dv).AsParameter(prefix + "norm.weight");             // a plain weight
        OutProj = W("out_proj.weight", d, ValueDim);
    }

    public IEnumerable<Tensor> Parameters() => [InProjQkv, InProjZ, InProjB, InProjA, Conv1d, DtBias, ALog, Norm, OutProj];

    /// <summary>Floats of one row's decoding state in one layer: K−1 conv inputs per channel and Hv states of dk × dv.</summary>
    public long StateFloats => (long)ConvDim * (_kernel - 1) + (long)_hv * _dk * _dv;

    /// <summary>A new decoding state for <paramref name="layers"/> layers of this shape.</summary>
    public RecurrentCache NewCache(int layers, int batch) => new(layers, batch, ConvDim, _kernel, _hv, _dk, _dv);

    /// <summary>
    /// x [B, T, D] (already input_layernorm-ed) → [B, T, D]. <paramref name="valid"/> [B·T] marks real tokens (padding is
    /// zeroed first, so it neither writes to the state nor feeds the conv); <paramref name="segments"/> [B·T] restarts
    /// the state and the conv where a packed row's sequence changes. With a <paramref name="cache"/>, layer
    /// <paramref name="slot"/>'s conv inputs and state are read and advanced (one token: the recurrent step; docs/spec/QWEN3_5.md "The hybrid cache").
    /// <paramref name="linear"/> is the block's projection (LoRA adapters included).
    /// </summary>
    public Tensor Forward(Tensor x, Func<Tensor, Tensor, Tensor> linear, bool[]? valid, int[]? segments, RecurrentCache? cache = null, int slot = 0)
    {
        int b = x.Shape[0], t = x.Shape[1];
        if (valid is not null && Array.IndexOf(valid, false) >= 0)
            x = Ops.Mul(x, Tensor.FromArray(valid.Select(v => v ? 1f : 0f).ToArray(), b, t, 1));      // padded positions × 0
        var m = linear(x, InProjQkv);                                                                     // [B, T, conv_dim]
        var z = Ops.Reshape(linear(x, InProjZ), b, t, _hv, _dv);
        var beta = Ops.Sigmoid(linear(x, InProjB));                                                       // β = σ(b)
        var g = Ops.Mul(Ops.MulScalar(Ops.Exp(ALog), -1f), Ops.Softplus(Ops.Add(linear(x, InProjA), DtBias)));   // g = −e^A_log · softplus(a + dt_bias)
        var weight = Ops.Reshape(Conv1d, ConvDim, _kernel);
        bool step = cache is not null && t == 1;
        Tensor c;
        if (step) c = Ops.Reshape(Ops.CausalConv1dStep(cache!.Conv[slot], Ops.Reshape(m, b, ConvDim), weight), b, 1, ConvDim);
        else
        {
            c = Ops.CausalConv1d(m, weight, cache?.Conv[slot], segments);                               // causal depthwise conv of m
            if (cache is not null) ShiftConvInputs(cache.Conv[slot], m);
        }
        c = Ops.Silu(c);                                                                                  // SiLU on q, k and v
        var q = Ops.Reshape(Ops.Slice(c, 2, 0, KeyDim), b, t, _hk, _dk);                                  // the column blocks q | k | v
        var k = Ops.Reshape(Ops.Slice(c, 2, KeyDim, KeyDim), b, t, _hk, _dk);
        var v = Ops.Reshape(Ops.Slice(c, 2, 2 * KeyDim, ValueDim), b, t, _hv, _dv);
        q = Ops.MulScalar(Ops.L2Normalize(q, 1e-6f), 1f / MathF.Sqrt(_dk));                              // q ← L2(q)·dk^−½
        k = Ops.L2Normalize(k, 1e-6f);
        Tensor o;                                                                                         // the gated delta rule ("Gated DeltaNet ops"): [B, T, Hv, dv]
        if (step)
            o = Ops.Reshape(Ops.GatedDeltaStep(cache!.State[slot], Ops.Reshape(q, b, _hk, _dk), Ops.Reshape(k, b, _hk, _dk), Ops.Reshape(v, b, _hv, _dv),
                Ops.Reshape(g, b, _hv), Ops.Reshape(beta, b, _hv)), b, 1, _hv, _dv);
        else
        {
            o = Ops.GatedDeltaRule(q, k, v, g, beta, new GatedDeltaOptions
            {
                Segments = segments,
                InitialState = cache is null ? null : Copy(cache.State[slot]),   // read whole before the final state overwrites it
                FinalState = cache?.State[slot],
            });
        }
        var y = Ops.Mul(Ops.RmsNorm(o, Norm, _eps), Ops.Silu(z));                                         // w · o/rms(o) · silu(z)
        return linear(Ops.Reshape(y, b, t, ValueDim), OutProj);                                           // out_proj
    }

    static Tensor Copy(Tensor t) => Tensor.FromArray(t.Data, t.Shape);

    /// <summary>The conv's decoding inputs after a prefill: the last K−1 columns of (old inputs ‖ m) per row and channel (docs/spec/QWEN3_5.md "The hybrid cache").</summary>
    void ShiftConvInputs(Tensor history, Tensor m)
    {
        int b = m.Shape[0], t = m.Shape[1], ch = ConvDim, keep = _kernel - 1, fromOld = Math.Max(0, keep - t);
        var h = history.Data;
        var md = m.Data;
        // Column k of the new history is column k + t of (old ‖ m): the old history's for k < K−1−t, else m's step t−(K−1)+k.
        for (int r = 0; r < b; r++)
            for (int c = 0; c < ch; c++)
            {
                var row = h.Slice((r * ch + c) * keep, keep);
                for (int k = 0; k < fromOld; k++) row[k] = row[k + t];
                for (int k = fromOld; k < keep; k++) row[k] = md[(r * t + t - keep + k) * ch + c];
            }
    }
}
