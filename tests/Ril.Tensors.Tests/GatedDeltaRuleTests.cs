using System.Globalization;
using Ril.Tensors.Autograd;
using Ril.Tensors.IO;
using Ril.Tensors.Kernels;
using Xunit.Abstractions;
using static Ril.Tensors.Tests.GradCheck;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Ril.Tensors.Tests;

/// <summary>
/// The Gated DeltaNet ops (docs/spec/QWEN3_5.md "Gated DeltaNet ops"): the gated delta rule (chunked and recurrent,
/// decoding step), the depthwise causal conv1d (and its step), L2Normalize, Softplus. Against the float64 PyTorch
/// fixture of tests/fixtures/make_gated_delta_fixtures.py, against each other, and against finite differences.
/// </summary>
public sealed class GatedDeltaRuleTests(ITestOutputHelper output)
{
    // ---- helpers ----------------------------------------------------------------------------------------------

    /// <summary>Inputs as a Gated DeltaNet layer makes them: q, k L2-normalised (q scaled by dk^−½), g = −softplus ≤ 0,
    /// beta = sigmoid; leaves with grad.</summary>
    static Tensor[] Inputs(Rng rng, int b, int t, int hk, int hv, int dk, int dv)
    {
        using var _ = NoGrad.Begin();
        var q = Ops.L2Normalize(Rand(rng, b, t, hk, dk)) * (1f / MathF.Sqrt(dk));
        var k = Ops.L2Normalize(Rand(rng, b, t, hk, dk));
        var v = Rand(rng, b, t, hv, dv);
        var g = -Ops.Softplus(Tensor.Randn(rng, 1.5f, b, t, hv));
        var beta = Ops.Sigmoid(Rand(rng, b, t, hv));
        return [q.AsParameter(), k.AsParameter(), v.AsParameter(), g.AsParameter(), beta.AsParameter()];
    }

    /// <summary>o and the gradients of the five inputs for the loss Σ o ⊙ w.</summary>
    static (float[] o, float[][] grads) RunWithGrads(Tensor[] x, Tensor w, GatedDeltaOptions options)
    {
        foreach (var t in x) t.Grad = null;
        var o = Ops.GatedDeltaRule(x[0], x[1], x[2], x[3], x[4], options);
        Ops.SumAll(o * w).Backward();
        return (o.ToArray(), x.Select(t => t.Grad!.ToArray()).ToArray());
    }

    /// <summary>max_i |a − b| / max(|b_i|, floor·max|b|): an element as small as <paramref name="floor"/> of the largest must agree to the tolerance.</summary>
    static double RelError(ReadOnlySpan<float> a, ReadOnlySpan<float> b, double floor = 0.01)
    {
        Assert.Equal(b.Length, a.Length);
        double maxB = 1e-30, worst = 0;
        for (int i = 0; i < b.Length; i++) maxB = Math.Max(maxB, Math.Abs(b[i]));
        for (int i = 0; i < b.Length; i++)
        {
            double d = Math.Abs((double)a[i] - b[i]);
            worst = Math.Max(worst, double.IsNaN(d) ? double.PositiveInfinity : d / Math.Max(Math.Abs(b[i]), floor * maxB));
        }
        return worst;
    }

    void Close(string what, ReadOnlySpan<float> actual, ReadOnlySpan<float> expected, double tol)
    {
        double e = RelError(actual, expected);
        output.WriteLine($"{what,-36} rel {e:E2}");
        Assert.True(e <= tol, $"{what}: relative error {e:E3} > {tol:E0}");
    }

    static readonly string[] InputNames = ["q", "k", "v", "g", "beta"];

    // ---- the float64 PyTorch fixture --------------------------------------------------------------------------

    static SafeTensorFile Fixture() => SafeTensors.Read(Path.Combine(Fixtures.Torch, "gated_delta.safetensors"));
    static Tensor Load(SafeTensorFile f, string name) => Tensor.FromArray(f[name].Data, f[name].Shape);

    [Theory]
    [InlineData("gqa", 16)]      // Hv = 2·Hk, T 37 not a multiple of the chunk, an initial state
    [InlineData("gqa", 64)]
    [InlineData("packed", 7)]    // packed sequences: state resets; zero inputs at the start of row 1
    [InlineData("gqa", 0)]       // 0: the recurrent form (the scalar reference)
    [InlineData("packed", 0)]
    public void Gated_delta_rule_matches_the_float64_torch_reference(string prefix, int chunk)
    {
        var f = Fixture();
        var dims = f.Metadata[prefix + ".dims"].Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        int b = dims[0], t = dims[1], dk = dims[4];
        string[] names = ["raw_q", "raw_k", "v", "a", "b"];
        var leaves = names.Select(n => Load(f, $"{prefix}.{n}").AsParameter(n)).ToArray();
        int[]? segments = prefix == "packed" ? f[prefix + ".segments"].Data.Select(v => (int)v).ToArray() : null;
        var final = Tensor.Zeros(f[prefix + ".final_state"].Shape);
        // the layer's pipeline around the op, as the fixture computes it
        var q = Ops.L2Normalize(leaves[0]) * (1f / MathF.Sqrt(dk));
        var k = Ops.L2Normalize(leaves[1]);
        var g = -Ops.Softplus(leaves[3]);
        var beta = Ops.Sigmoid(leaves[4]);
        var o = Ops.GatedDeltaRule(q, k, leaves[2], g, beta, new GatedDeltaOptions
        {
            ChunkSize = Math.Max(chunk, 1), Recurrent = chunk == 0, InitialState = Load(f, prefix + ".initial_state"), FinalState = final, Segments = segments,
        });
        Assert.Equal(b * t, o.Shape[0] * o.Shape[1]);
        Ops.SumAll(o * Load(f, prefix + ".w_out")).Backward();
        Close($"{prefix} C={chunk} o", o.Data, f[prefix + ".o"].Data, 1e-4);
        Close($"{prefix} C={chunk} final state", final.Data, f[prefix + ".final_state"].Data, 1e-4);
        for (int i = 0; i < names.Length; i++) Close($"{prefix} C={chunk} grad.{names[i]}", leaves[i].Grad!.Data, f[$"{prefix}.grad.{names[i]}"].Data, 1e-4);
    }

    [Theory]
    [InlineData("conv")]
    [InlineData("convpack")]
    public void Causal_conv1d_matches_the_float64_torch_reference(string prefix)
    {
        var f = Fixture();
        var x = Load(f, prefix + ".x").AsParameter("x");
        var w = Load(f, prefix + ".weight").AsParameter("weight");
        int[]? segments = prefix == "convpack" ? f[prefix + ".segments"].Data.Select(v => (int)v).ToArray() : null;
        var y = Ops.CausalConv1d(x, w, Load(f, prefix + ".history"), segments);
        Ops.SumAll(y * Load(f, prefix + ".w_out")).Backward();
        Close($"{prefix} y", y.Data, f[prefix + ".y"].Data, 1e-5);
        Close($"{prefix} grad.x", x.Grad!.Data, f[prefix + ".grad.x"].Data, 1e-5);
        Close($"{prefix} grad.weight", w.Grad!.Data, f[prefix + ".grad.weight"].Data, 1e-5);
    }

    [Fact]
    public void Softplus_matches_torch_on_both_sides_of_the_threshold()
    {
        var f = Fixture();
        var x = Load(f, "softplus.x").AsParameter();
        var y = Ops.Softplus(x);
        Ops.SumAll(y).Backward();
        // no floor: every value (down to e^−30) to float precision
        Assert.True(RelError(y.Data, f["softplus.y"].Data, floor: 0) <= 1e-6, "softplus values");
        Assert.True(RelError(x.Grad!.Data, f["softplus.grad.x"].Data, floor: 0) <= 1e-6, "softplus gradient");
    }

    // ---- chunked against recurrent ----------------------------------------------------------------------------

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(16)]
    [InlineData(64)]
    public void Chunked_form_equals_the_recurrent_form_with_gradients(int chunk)
    {
        var rng = new Rng(11);
        int b = 2, t = 45, hk = 2, hv = 4, dk = 12, dv = 10;
        var x = Inputs(rng, b, t, hk, hv, dk, dv);
        var w = Rand(rng, b, t, hv, dv);
        var init = Tensor.Randn(rng, 0.3f, b, hv, dk, dv);
        var segments = Enumerable.Range(0, b * t).Select(i => i < t ? (i < 20 ? 0 : 1) : 2).ToArray();   // row 0 packs two sequences
        foreach (var seg in new[] { null, segments })
        {
            var finalR = Tensor.Zeros(b, hv, dk, dv); var finalC = Tensor.Zeros(b, hv, dk, dv);
            var (oR, gR) = RunWithGrads(x, w, new GatedDeltaOptions { Recurrent = true, InitialState = init, FinalState = finalR, Segments = seg });
            var (oC, gC) = RunWithGrads(x, w, new GatedDeltaOptions { ChunkSize = chunk, InitialState = init, FinalState = finalC, Segments = seg });
            string tag = $"C={chunk}{(seg is null ? "" : " packed")}";
            Close($"{tag} o", oC, oR, 1e-4);
            Close($"{tag} final state", finalC.Data, finalR.Data, 1e-4);
            for (int i = 0; i < 5; i++) Close($"{tag} grad.{InputNames[i]}", gC[i], gR[i], 1e-4);
        }
    }

    [Fact]
    public void Strong_decay_underflows_to_forgetting_without_nan()
    {
        var rng = new Rng(20);
        var x = Inputs(rng, 1, 70, 1, 2, 8, 16);
        TP.Multiply(x[3].Data, 40f, x[3].Data);   // g down to about −150 per step: e^G underflows within a chunk
        var w = Rand(rng, 1, 70, 2, 16);
        var (oR, gR) = RunWithGrads(x, w, new GatedDeltaOptions { Recurrent = true });
        var (oC, gC) = RunWithGrads(x, w, new GatedDeltaOptions { ChunkSize = 64 });
        Assert.All(oC.Concat(gC.SelectMany(a => a)), v => Assert.True(float.IsFinite(v)));
        Close("strong decay o", oC, oR, 1e-4);
        for (int i = 0; i < 5; i++) Close($"strong decay grad.{InputNames[i]}", gC[i], gR[i], 1e-4);
    }

    [Theory]
    [InlineData(8, 6)]     // the row-wise step
    [InlineData(16, 32)]   // the 16-column vector step
    public void Prefill_with_final_state_then_steps_equals_one_full_forward(int dk, int dv)
    {
        var rng = new Rng(12);
        int b = 2, t = 23, prefill = 13, hk = 1, hv = 2;
        var x = Inputs(rng, b, t, hk, hv, dk, dv);
        var init = Tensor.Randn(rng, 0.3f, b, hv, dk, dv);
        using var _ = NoGrad.Begin();
        var full = Ops.GatedDeltaRule(x[0], x[1], x[2], x[3], x[4], new GatedDeltaOptions { ChunkSize = 8, InitialState = init });
        var state = Tensor.Zeros(b, hv, dk, dv);
        var expected = full.ToArray();
        var got = new float[expected.Length];
        int row = hv * dv;
        // the prompt in two pieces, the second continuing from the first's state in place (InitialState = FinalState)
        foreach (var (start, len, initial) in new[] { (0, 5, init), (5, prefill - 5, state) })
        {
            var piece = x.Select(a => Ops.Slice(a, 1, start, len)).ToArray();
            var o = Ops.GatedDeltaRule(piece[0], piece[1], piece[2], piece[3], piece[4], new GatedDeltaOptions { ChunkSize = 4, InitialState = initial, FinalState = state });
            for (int bi = 0; bi < b; bi++) o.Data.Slice(bi * len * row, len * row).CopyTo(got.AsSpan((bi * t + start) * row));
        }
        for (int s = prefill; s < t; s++)
        {
            var step = x.Select(a => Ops.Reshape(Ops.Slice(a, 1, s, 1), [a.Shape[0], .. a.Shape[2..]])).ToArray();
            var os = Ops.GatedDeltaStep(state, step[0], step[1], step[2], step[3], step[4]);
            for (int bi = 0; bi < b; bi++) os.Data.Slice(bi * row, row).CopyTo(got.AsSpan((bi * t + s) * row));
        }
        Close("prefill + steps", got, expected, 1e-4);
    }

    [Fact]
    public void Packed_sequences_equal_separate_rows_and_left_padding_keeps_the_state_zero()
    {
        var rng = new Rng(13);
        int t1 = 9, t2 = 14, hk = 2, hv = 2, dk = 6, dv = 5;
        var x = Inputs(rng, 1, t1 + t2, hk, hv, dk, dv);
        var w = Rand(rng, 1, t1 + t2, hv, dv);
        var segments = Enumerable.Range(0, t1 + t2).Select(i => i < t1 ? 4 : 9).ToArray();
        var (oPacked, gPacked) = RunWithGrads(x, w, new GatedDeltaOptions { ChunkSize = 4, Segments = segments });
        // the two sequences as rows of their own
        var expectedO = new List<float>(); var expectedG = Enumerable.Range(0, 5).Select(_ => new List<float>()).ToArray();
        foreach (var (start, len) in new[] { (0, t1), (t1, t2) })
        {
            var part = x.Select(a => Ops.Slice(a, 1, start, len).Detach().AsParameter()).ToArray();
            var (o, g) = RunWithGrads(part, Ops.Slice(w, 1, start, len), new GatedDeltaOptions { ChunkSize = 4 });
            expectedO.AddRange(o);
            for (int i = 0; i < 5; i++) expectedG[i].AddRange(g[i]);
        }
        Assert.Equal(expectedO.ToArray(), oPacked);   // the same arithmetic: exactly equal
        for (int i = 0; i < 5; i++) Assert.Equal(expectedG[i].ToArray(), gPacked[i]);

        // left padding: zero q, k, v (any g, beta) before the real tokens writes nothing
        int pad = 5;
        var real = Inputs(rng, 1, t2, hk, hv, dk, dv);
        var padded = real.Select((a, i) =>
        {
            var p = i >= 3 ? Rand(rng, [1, pad, .. a.Shape[2..]]) : Tensor.Zeros([1, pad, .. a.Shape[2..]]);
            return Ops.Concat([p, a.Detach()], 1);
        }).ToArray();
        using var _ = NoGrad.Begin();
        var finalReal = Tensor.Zeros(1, hv, dk, dv); var finalPadded = Tensor.Zeros(1, hv, dk, dv);
        var oReal = Ops.GatedDeltaRule(real[0], real[1], real[2], real[3], real[4], new GatedDeltaOptions { ChunkSize = 4, FinalState = finalReal });
        var oPad = Ops.GatedDeltaRule(padded[0], padded[1], padded[2], padded[3], padded[4], new GatedDeltaOptions { ChunkSize = 4, FinalState = finalPadded });
        Assert.All(oPad.Data[..(pad * hv * dv)].ToArray(), v => Assert.Equal(0f, v));
        Close("left padding: outputs", oPad.Data[(pad * hv * dv)..], oReal.Data, 1e-5);
        Close("left padding: final state", finalPadded.Data, finalReal.Data, 1e-5);
    }

    [Fact]
    public void Results_do_not_depend_on_the_thread_count_or_on_which_inputs_need_grad()
    {
        var rng = new Rng(18);
        var x = Inputs(rng, 2, 19, 2, 4, 8, 16);
        var w = Rand(rng, 2, 19, 4, 16);
        var options = new GatedDeltaOptions { ChunkSize = 8 };
        var threads = WorkerPool.Shared.Threads;
        try
        {
            WorkerPool.SetThreads(1);
            var (o1, g1) = RunWithGrads(x, w, options);
            WorkerPool.SetThreads(3);
            var (o3, g3) = RunWithGrads(x, w, options);
            Assert.Equal(o1, o3);
            for (int i = 0; i < 5; i++) Assert.Equal(g1[i], g3[i]);
            // only v needs a gradient: the others' are accumulated into temporaries and dropped
            foreach (var t in x) { t.Grad = null; t.RequiresGrad = false; }
            x[2].RequiresGrad = true;
            Ops.SumAll(Ops.GatedDeltaRule(x[0], x[1], x[2], x[3], x[4], options) * w).Backward();
            Assert.Equal(g3[2], x[2].Grad!.ToArray());
            Assert.All(new[] { 0, 1, 3, 4 }, i => Assert.Null(x[i].Grad));
        }
        finally { WorkerPool.SetThreads(threads); }
    }

    // ---- causal conv ------------------------------------------------------------------------------------------

    [Fact]
    public void Causal_conv1d_prefill_then_steps_equals_the_full_convolution()
    {
        var rng = new Rng(14);
        int b = 2, t = 10, prefill = 6, c = 7, k = 4;
        var x = Rand(rng, b, t, c); var w = Rand(rng, c, k); var hist0 = Rand(rng, b, c, k - 1);
        using var _ = NoGrad.Begin();
        var full = Ops.CausalConv1d(x, w, hist0);
        var head = Ops.CausalConv1d(Ops.Slice(x, 1, 0, prefill), w, hist0);
        // the decoding state after the prefill: its last K−1 inputs, newest last
        var hist = Tensor.Zeros(b, c, k - 1);
        for (int bi = 0; bi < b; bi++)
            for (int ch = 0; ch < c; ch++)
                for (int i = 0; i < k - 1; i++) hist[bi, ch, i] = x[bi, prefill - (k - 1) + i, ch];
        for (int bi = 0; bi < b; bi++)
            for (int s = 0; s < prefill; s++)
                for (int ch = 0; ch < c; ch++) Assert.Equal(full[bi, s, ch], head[bi, s, ch]);
        for (int s = prefill; s < t; s++)
        {
            var y = Ops.CausalConv1dStep(hist, Ops.Reshape(Ops.Slice(x, 1, s, 1), b, c), w);
            for (int bi = 0; bi < b; bi++)
                for (int ch = 0; ch < c; ch++) Assert.Equal(full[bi, s, ch], y[bi, ch], 5);
        }
    }

    [Fact]
    public void Causal_conv_kernels_match_their_scalar_references()
    {
        var rng = new Rng(15);
        int b = 2, t = 13, c = 37, k = 4;
        var x = Rand(rng, b, t, c); var w = Rand(rng, c, k); var hist = Rand(rng, b, c, k - 1); var dy = Rand(rng, b, t, c);
        var segments = Enumerable.Range(0, b * t).Select(i => i / 5).ToArray();
        foreach (var seg in new[] { null, segments })
            foreach (var h in new[] { null, hist })
            {
                var geo = new CausalConvGeometry(b, t, c, k, Ops.RunStarts(seg, b, t, "test"));
                var y = new float[b * t * c]; var yRef = new float[b * t * c];
                var wT = new float[k * c]; for (int ch = 0; ch < c; ch++) for (int i = 0; i < k; i++) wT[i * c + ch] = w.Data[ch * k + i];
                var hT = h is null ? null : new float[b * (k - 1) * c];
                if (h is not null) for (int bi = 0; bi < b; bi++) for (int ch = 0; ch < c; ch++) for (int i = 0; i < k - 1; i++) hT![(bi * (k - 1) + i) * c + ch] = h[bi, ch, i];
                CausalConvKernels.Forward(geo, x.Data, wT, hT, y, 0, b * t);
                CausalConvKernels.ForwardReference(geo, x.Data, w.Data, h is null ? default : h.Data, yRef);
                Close("conv forward kernel", y, yRef, 1e-5);
                var dx = new float[b * t * c]; var dwT = new float[k * c]; var dxRef = new float[b * t * c]; var dwRef = new float[c * k];
                CausalConvKernels.Backward(geo, x.Data, wT, hT, dy.Data, dx, dwT, 0, b * t);
                CausalConvKernels.BackwardReference(geo, x.Data, w.Data, h is null ? default : h.Data, dy.Data, dxRef, dwRef);
                var dw = new float[c * k]; for (int ch = 0; ch < c; ch++) for (int i = 0; i < k; i++) dw[ch * k + i] = dwT[i * c + ch];
                Close("conv backward kernel dx", dx, dxRef, 1e-5);
                Close("conv backward kernel dw", dw, dwRef, 1e-5);
            }
    }

    [Fact]
    public void Causal_conv1d_on_the_parallel_path_matches_the_scalar_reference()
    {
        var rng = new Rng(19);
        int b = 2, t = 300, c = 64, k = 4;
        var x = Rand(rng, b, t, c).AsParameter(); var w = Rand(rng, c, k).AsParameter(); var hist = Rand(rng, b, c, k - 1);
        var dy = Rand(rng, b, t, c);
        var segments = Enumerable.Range(0, b * t).Select(i => i / 70).ToArray();
        var y = Ops.CausalConv1d(x, w, hist, segments);
        y.Backward(dy);
        var geo = new CausalConvGeometry(b, t, c, k, Ops.RunStarts(segments, b, t, "test"));
        var yRef = new float[b * t * c]; var dxRef = new float[b * t * c]; var dwRef = new float[c * k];
        CausalConvKernels.ForwardReference(geo, x.Data, w.Data, hist.Data, yRef);
        CausalConvKernels.BackwardReference(geo, x.Data, w.Data, hist.Data, dy.Data, dxRef, dwRef);
        Close("conv parallel y", y.Data, yRef, 1e-5);
        Close("conv parallel dx", x.Grad!.Data, dxRef, 1e-5);
        Close("conv parallel dw", w.Grad!.Data, dwRef, 1e-4);   // sums of 600 float products
    }

    [Theory]
    [InlineData(1)]
    [InlineData(13)]
    [InlineData(64)]
    [InlineData(71)]   // blocks of 16 and a tail
    public unsafe void Triangular_inverse_matches_its_scalar_reference(int n)
    {
        var rng = new Rng((ulong)n);
        var a = new float[n * n];
        for (int i = 0; i < n; i++) for (int j = 0; j < i; j++) a[i * n + j] = 0.3f * (float)rng.NextGaussian();
        var t = new float[n * n]; var tRef = new float[n * n];
        fixed (float* pa = a, pt = t, pr = tRef)
        {
            GatedDeltaKernels.InvertUnitLower(pa, pt, n);
            GatedDeltaKernels.InvertUnitLowerReference(pa, pr, n);
        }
        Close($"(I + A)⁻¹ n={n}", t, tRef, 1e-5);
        // and it is the inverse: (I + A) T = I
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double s = t[i * n + j];
                for (int m = 0; m < i; m++) s += a[i * n + m] * t[m * n + j];
                Assert.True(Math.Abs(s - (i == j ? 1 : 0)) < 1e-4, $"((I + A) T)[{i}, {j}] = {s}");
            }
    }

    // ---- finite differences -----------------------------------------------------------------------------------

    [Fact]
    public void Backward_of_every_op_matches_finite_differences()
    {
        var rng = new Rng(16);
        var seg = new[] { 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2 };
        foreach (var (chunk, recurrent, segments) in new[] { (3, false, (int[]?)null), (4, false, seg), (1, true, seg) })
        {
            var x = Inputs(rng, 2, 7, 1, 2, 4, 3);
            var init = Tensor.Randn(rng, 0.3f, 2, 2, 4, 3);
            Check($"GatedDeltaRule C={chunk}{(recurrent ? " recurrent" : "")}{(segments is null ? "" : " packed")}",
                a => Ops.GatedDeltaRule(a[0], a[1], a[2], a[3], a[4], new GatedDeltaOptions { ChunkSize = chunk, InitialState = init, Segments = segments, Recurrent = recurrent }),
                x, maxProbes: 24);
        }
        Check("CausalConv1d", a => Ops.CausalConv1d(a[0], a[1], Rand(new Rng(3), 2, 5, 2)), [Rand(rng, 2, 6, 5), Rand(rng, 5, 3)]);
        Check("CausalConv1d packed", a => Ops.CausalConv1d(a[0], a[1], null, [0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3]), [Rand(rng, 2, 6, 5), Rand(rng, 5, 4)]);
        Check("L2Normalize", a => Ops.L2Normalize(a[0]), [Rand(rng, 3, 4, 7)]);
        Check("Softplus", a => Ops.Softplus(a[0]), [Tensor.Randn(rng, 4f, 5, 9)]);
    }

    // ---- memory of the saved states ---------------------------------------------------------------------------

    [Fact]
    public void Recomputing_states_saves_memory_and_gives_identical_gradients()
    {
        var rng = new Rng(17);
        int b = 1, t = 130, hk = 2, hv = 2, dk = 16, dv = 16, chunk = 32;
        var x = Inputs(rng, b, t, hk, hv, dk, dv);
        var w = Rand(rng, b, t, hv, dv);
        var (oKeep, gKeep) = RunWithGrads(x, w, new GatedDeltaOptions { ChunkSize = chunk });
        long keep = Ops.GatedDeltaSavedBytes;
        var (oRe, gRe) = RunWithGrads(x, w, new GatedDeltaOptions { ChunkSize = chunk, RecomputeStates = true });
        long recompute = Ops.GatedDeltaSavedBytes;
        output.WriteLine($"saved for backward: {keep} bytes kept, {recompute} recomputing; per (token, head): {(double)keep / (b * t * hv):F1} vs {(double)recompute / (b * t * hv):F1}");
        Assert.Equal((long)((t + chunk - 1) / chunk) * b * hv * dk * dv * sizeof(float), keep);   // one state per chunk and head
        Assert.True(recompute < keep);
        Assert.Equal(oKeep, oRe);
        for (int i = 0; i < 5; i++) Assert.Equal(gKeep[i], gRe[i]);
    }

    [Fact]
    public void Bad_shapes_are_named()
    {
        var q = Tensor.Zeros(1, 4, 2, 3);
        var e = Assert.Throws<ArgumentException>(() => Ops.GatedDeltaRule(q, q, Tensor.Zeros(1, 4, 3, 5), Tensor.Zeros(1, 4, 3), Tensor.Zeros(1, 4, 3)));
        Assert.Contains("Hv a multiple of Hk", e.Message);
        e = Assert.Throws<ArgumentException>(() => Ops.GatedDeltaRule(q, q, Tensor.Zeros(1, 4, 2, 5), Tensor.Zeros(1, 4, 2), Tensor.Zeros(1, 4, 2),
            new GatedDeltaOptions { InitialState = Tensor.Zeros(1, 2, 5, 3) }));
        Assert.Contains("InitialState", e.Message);
        e = Assert.Throws<ArgumentException>(() => Ops.CausalConv1d(Tensor.Zeros(1, 4, 3), Tensor.Zeros(3, 4), Tensor.Zeros(1, 3, 2)));
        Assert.Contains("history", e.Message);
    }
}
