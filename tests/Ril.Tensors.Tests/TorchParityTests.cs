using System.Globalization;
using Ril.Tensors.IO;
using Xunit.Abstractions;

namespace Ril.Tensors.Tests;

/// <summary>
/// Parity with PyTorch: tests/fixtures/make_torch_fixtures.py (run with Debian's python3-torch) writes a Qwen2 decoder
/// layer, a SigLIP/ViT encoder layer, activations and loss heads with fixed weights and inputs, their outputs and
/// every gradient, computed in float64 from float32-exact inputs. These tests rebuild each computation with the
/// engine's public API and compare.
///
/// Metric, per element: |a − b| / max(|b|, 0.01·max|b|), a the engine, b the fixture, max over the tensor; it must be
/// ≤ 1e-4 for every tensor. This is stricter than the norm-wise max|a − b| / max|b| (printed too): an element as small
/// as 1% of the tensor's largest must still agree to 1e-4 of its own size. (The floor is needed because float32
/// accumulation leaves an absolute error of a few 1e-7·max|b| on every element, PyTorch's float32 included.)
/// For scale: PyTorch itself in float32, run on the same inputs, scores up to 7e-5 under this metric (on the decoder's
/// grad k_proj.bias, a sum with heavy cancellation); the engine scores 5e-5 there and ≤ 3e-5 elsewhere. Using exact GELU
/// in place of the tanh approximation in the ViT layer fails it at ~1e-2.
/// </summary>
public sealed class TorchParityTests(ITestOutputHelper output)
{
    const double Tolerance = 1e-4;
    const double FloorFraction = 0.01;

    static SafeTensorFile Load(string name) => SafeTensors.Read(Path.Combine(Fixtures.Torch, name));

    static Tensor Param(SafeTensorFile f, string name) => Tensor.FromArray(f[name].Data, f[name].Shape).AsParameter(name);
    static Tensor Constant(SafeTensorFile f, string name) => Tensor.FromArray(f[name].Data, f[name].Shape);
    static int[] Ints(SafeTensorFile f, string name) => f[name].Data.Select(v => (int)MathF.Round(v)).ToArray();
    static int Int(SafeTensorFile f, string key) => int.Parse(f.Metadata[key], CultureInfo.InvariantCulture);
    static float Float(SafeTensorFile f, string key) => float.Parse(f.Metadata[key], CultureInfo.InvariantCulture);

    /// <summary>Compares tensors, prints the error of each, and fails at the end naming every tensor over the tolerance.</summary>
    sealed class Checker(ITestOutputHelper output, string fixture)
    {
        readonly List<string> _failures = new();
        public double Worst { get; private set; }
        string _worstName = "";

        /// <param name="include">Optional per-element flags: only flagged elements are compared (padded queries are not).</param>
        /// <param name="scale">For a tensor that is zero in exact arithmetic: the magnitude its rounding noise is measured
        /// against (the floor becomes 0.01·max(max|b|, scale)).</param>
        public void Check(string name, ReadOnlySpan<float> actual, SafeTensorEntry expected, Func<int, bool>? include = null, double scale = 0)
        {
            var b = expected.Data;
            if (actual.Length != b.Length)
            {
                _failures.Add($"{name}: engine has {actual.Length} values, fixture {b.Length}");
                return;
            }
            double maxB = 0;
            for (int i = 0; i < b.Length; i++) if (include?.Invoke(i) ?? true) maxB = Math.Max(maxB, Math.Abs(b[i]));
            double floor = Math.Max(FloorFraction * Math.Max(maxB, scale), 1e-30);
            double worstRel = 0, worstAbs = 0; int worstAt = -1, compared = 0;
            for (int i = 0; i < b.Length; i++)
            {
                if (!(include?.Invoke(i) ?? true)) continue;
                compared++;
                double diff = Math.Abs((double)actual[i] - b[i]);
                if (double.IsNaN(diff)) diff = double.PositiveInfinity;
                worstAbs = Math.Max(worstAbs, diff);
                double rel = diff / Math.Max(Math.Abs(b[i]), floor);
                if (rel > worstRel || worstAt < 0) { worstRel = rel; worstAt = i; }
            }
            double normwise = worstAbs / Math.Max(Math.Max(maxB, scale), 1e-30);
            output.WriteLine($"{fixture,-12} {name,-40} rel {worstRel:E2}  (norm-wise {normwise:E2}, max|b| {maxB:G4}, {compared} values)");
            if (worstRel > Worst) { Worst = worstRel; _worstName = name; }
            if (!(worstRel <= Tolerance))
                _failures.Add($"{name}: relative error {worstRel:E3} > {Tolerance:E0} at flat index {worstAt} " +
                              $"(engine {actual[worstAt]:G9}, torch {b[worstAt]:G9}; norm-wise {normwise:E3})");
        }

        public void Check(string name, Tensor? actual, SafeTensorEntry expected, Func<int, bool>? include = null, double scale = 0)
        {
            if (actual is null) { _failures.Add($"{name}: the engine produced no tensor (no gradient reached it)"); return; }
            if (!actual.Shape.SequenceEqual(expected.Shape))
            {
                _failures.Add($"{name}: engine shape [{string.Join(", ", actual.Shape)}], fixture [{string.Join(", ", expected.Shape)}]");
                return;
            }
            Check(name, actual.Data, expected, include, scale);
        }

        public void AssertAll()
        {
            output.WriteLine($"{fixture}: worst relative error {Worst:E2} ({_worstName})");
            Assert.True(_failures.Count == 0, $"{fixture}: {_failures.Count} tensor(s) differ from PyTorch:\n  " + string.Join("\n  ", _failures));
        }
    }

    static readonly string[] DecoderWeights =
    [
        "input_layernorm.weight",
        "self_attn.q_proj.weight", "self_attn.q_proj.bias",
        "self_attn.k_proj.weight", "self_attn.k_proj.bias",
        "self_attn.v_proj.weight", "self_attn.v_proj.bias",
        "self_attn.o_proj.weight",
        "post_attention_layernorm.weight",
        "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
    ];

    [Theory]
    [InlineData("")]       // no padding, no KeyValid flags
    [InlineData("pad.")]   // row 1 left-padded by two tokens: key padding mask, positions from the mask
    public void Qwen2DecoderLayer_matches_torch(string prefix)
    {
        var f = Load("decoder.safetensors");
        int d = Int(f, "hidden_size"), hq = Int(f, "num_attention_heads"), hkv = Int(f, "num_key_value_heads"), hd = Int(f, "head_dim");
        float eps = Float(f, "rms_norm_eps"), theta = Float(f, "rope_theta");
        int b = Int(f, "batch"), t = Int(f, "seq");

        var p = DecoderWeights.ToDictionary(n => n, n => Param(f, n));
        var x = Param(f, prefix + "x");
        var wOut = Constant(f, prefix + "w_out");
        var positions = Ints(f, prefix + "positions");
        bool[]? keyValid = prefix == "" ? null : f[prefix + "key_valid"].Data.Select(v => v != 0f).ToArray();
        Assert.Equal(new[] { b, t, d }, x.Shape);

        // Qwen2DecoderLayer: h = x + o_proj(attn(rope(q), rope(k), v)); y = h + down(silu(gate(n)) * up(n)), n = rmsnorm(h).
        var xn = Ops.RmsNorm(x, p["input_layernorm.weight"], eps);
        var q = Ops.Reshape(Ops.Linear(xn, p["self_attn.q_proj.weight"], p["self_attn.q_proj.bias"]), b, t, hq, hd);
        var k = Ops.Reshape(Ops.Linear(xn, p["self_attn.k_proj.weight"], p["self_attn.k_proj.bias"]), b, t, hkv, hd);
        var v = Ops.Reshape(Ops.Linear(xn, p["self_attn.v_proj.weight"], p["self_attn.v_proj.bias"]), b, t, hkv, hd);
        q = Ops.Rope(q, positions, theta);
        k = Ops.Rope(k, positions, theta);
        var a = Ops.Attention(q, k, v, new AttentionMask(Causal: true, KeyValid: keyValid));
        var h = x + Ops.Linear(Ops.Reshape(a, b, t, hq * hd), p["self_attn.o_proj.weight"]);
        var hn = Ops.RmsNorm(h, p["post_attention_layernorm.weight"], eps);
        var mlp = Ops.Linear(Ops.Silu(Ops.Linear(hn, p["mlp.gate_proj.weight"])) * Ops.Linear(hn, p["mlp.up_proj.weight"]),
                             p["mlp.down_proj.weight"]);
        var y = h + mlp;
        Ops.SumAll(y * wOut).Backward();

        var c = new Checker(output, prefix == "" ? "decoder" : "decoder/pad");
        // Outputs at padded queries are undefined (HF attends uniformly, the engine outputs zeros): skip them.
        Func<int, bool>? validQuery = keyValid is null ? null : i => keyValid[i / d];
        c.Check("y", y, f[prefix + "y"], validQuery);
        c.Check("grad.x", x.Grad, f[prefix + "grad.x"]);
        foreach (var n in DecoderWeights) c.Check("grad." + n, p[n].Grad, f[prefix + "grad." + n]);
        c.AssertAll();
    }

    static readonly string[] VitWeights =
    [
        "layer_norm1.weight", "layer_norm1.bias",
        "self_attn.q_proj.weight", "self_attn.q_proj.bias",
        "self_attn.k_proj.weight", "self_attn.k_proj.bias",
        "self_attn.v_proj.weight", "self_attn.v_proj.bias",
        "self_attn.out_proj.weight", "self_attn.out_proj.bias",
        "layer_norm2.weight", "layer_norm2.bias",
        "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias",
    ];

    [Fact]
    public void SiglipEncoderLayer_matches_torch()
    {
        var f = Load("vit.safetensors");
        int d = Int(f, "hidden_size"), heads = Int(f, "num_attention_heads"), hd = Int(f, "head_dim");
        int b = Int(f, "batch"), n = Int(f, "tokens");
        float eps = Float(f, "layer_norm_eps");
        Assert.Equal("gelu_pytorch_tanh", f.Metadata["hidden_act"]);

        var p = VitWeights.ToDictionary(w => w, w => Param(f, w));
        var x = Param(f, "x");
        var wOut = Constant(f, "w_out");
        Assert.Equal(new[] { b, n, d }, x.Shape);

        // SiglipEncoderLayer: h = x + out_proj(attn(ln1(x))); y = h + fc2(gelu_tanh(fc1(ln2(h)))), attention not causal.
        var xn = Ops.LayerNorm(x, p["layer_norm1.weight"], p["layer_norm1.bias"], eps);
        Tensor Proj(string name) => Ops.Reshape(Ops.Linear(xn, p[$"self_attn.{name}.weight"], p[$"self_attn.{name}.bias"]), b, n, heads, hd);
        var a = Ops.Attention(Proj("q_proj"), Proj("k_proj"), Proj("v_proj"), new AttentionMask(Causal: false));
        var h = x + Ops.Linear(Ops.Reshape(a, b, n, d), p["self_attn.out_proj.weight"], p["self_attn.out_proj.bias"]);
        var hn = Ops.LayerNorm(h, p["layer_norm2.weight"], p["layer_norm2.bias"], eps);
        var mlp = Ops.Linear(Ops.GeluTanh(Ops.Linear(hn, p["mlp.fc1.weight"], p["mlp.fc1.bias"])), p["mlp.fc2.weight"], p["mlp.fc2.bias"]);
        var y = h + mlp;
        Ops.SumAll(y * wOut).Backward();

        var c = new Checker(output, "vit");
        c.Check("y", y, f["y"]);
        c.Check("grad.x", x.Grad, f["grad.x"]);
        // Without RoPE or a causal mask, k_proj's bias adds the same q·b to every score of a query's row, which softmax
        // ignores: its gradient is zero in exact arithmetic (torch's float64 gives ~1e-16). Measure the engine's rounding
        // noise there against the size of the analogous gradient, q_proj's bias.
        double qBiasScale = f["grad.self_attn.q_proj.bias"].Data.Max(v => Math.Abs(v));
        Assert.True(f["grad.self_attn.k_proj.bias"].Data.Max(v => Math.Abs(v)) < 1e-6 * qBiasScale);
        foreach (var w in VitWeights)
            c.Check("grad." + w, p[w].Grad, f["grad." + w], scale: w == "self_attn.k_proj.bias" ? qBiasScale : 0);
        c.AssertAll();
    }

    [Fact]
    public void Activations_match_torch()
    {
        var f = Load("activations.safetensors");
        var c = new Checker(output, "activations");
        foreach (var (name, op) in new (string, Func<Tensor, Tensor>)[] { ("gelu_tanh", Ops.GeluTanh), ("gelu", Ops.GeluExact), ("silu", Ops.Silu) })
        {
            var x = Param(f, "x");
            var y = op(x);
            Ops.SumAll(y).Backward();
            c.Check(name, y, f[name]);
            c.Check("grad." + name, x.Grad, f["grad." + name]);
        }
        c.AssertAll();
    }

    [Fact]
    public void LossHeads_match_torch()
    {
        var f = Load("heads.safetensors");
        var ids = Ints(f, "ids");
        var targets = Ints(f, "targets");
        Assert.Contains(-100, targets);
        var c = new Checker(output, "heads");

        // (a) log_softmax(logits) gathered at ids, upstream g_sel.
        var z = Param(f, "logits");
        var sel = Ops.SelectedLogProbs(z, ids);
        Ops.SumAll(sel * Constant(f, "g_sel")).Backward();
        c.Check("selected_logprobs", sel, f["selected_logprobs"]);
        c.Check("grad.selected_logprobs", z.Grad, f["grad.selected_logprobs"]);

        // (b) full-vocabulary entropy −Σ p log p per row, upstream g_ent.
        z = Param(f, "logits");
        var ent = Ops.Entropy(z);
        Ops.SumAll(ent * Constant(f, "g_ent")).Backward();
        c.Check("entropy", ent, f["entropy"]);
        c.Check("grad.entropy", z.Grad, f["grad.entropy"]);

        // (c) cross-entropy, mean over the rows whose target is not ignore_index = −100.
        z = Param(f, "logits");
        var ce = Ops.CrossEntropy(z, targets, ignoreIndex: -100);
        ce.Backward();
        c.Check("cross_entropy", ce.Data, f["cross_entropy"]);
        c.Check("grad.cross_entropy", z.Grad, f["grad.cross_entropy"]);
        c.AssertAll();
    }
}
