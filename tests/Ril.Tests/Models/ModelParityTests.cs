using System.Text.Json;
using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Families.RilVlm;
using Ril.Tensors;
using Ril.Tensors.Autograd;
using Ril.Tensors.IO;
using Ril.Tests.Data;
using Xunit.Abstractions;

namespace Ril.Tests.Models;

/// <summary>
/// Whole-model forward parity with PyTorch: tests/fixtures/make_model_fixtures.py (run with Debian's python3-torch)
/// writes Hugging Face-style directories under tests/fixtures/models/ (config.json + model.safetensors with random
/// weights under HF names) and parity.safetensors with inputs and float64-computed outputs. Each test builds the model
/// from config.json, loads the weights with <see cref="Checkpoint"/> (which must take every tensor in the file), runs
/// the forward pass and compares.
///
/// Metric, per element (as in Ril.Tensors.Tests' TorchParityTests): |a − b| / max(|b|, 0.01·max|b|), a the engine,
/// b the fixture; the worst element of every tensor must be ≤ 1e-4.
/// </summary>
public sealed class ModelParityTests(ITestOutputHelper output)
{
    const double Tolerance = 1e-4;
    const double FloorFraction = 0.01;

    static string ModelDir(string name) => Path.Combine(RepoPaths.Fixtures, "models", name);
    static SafeTensorFile Parity(string dir) => SafeTensors.Read(Path.Combine(dir, "parity.safetensors"));
    static int[] Ints(SafeTensorEntry e) => e.Data.Select(v => (int)MathF.Round(v)).ToArray();
    static Tensor Constant(SafeTensorEntry e) => Tensor.FromArray(e.Data, e.Shape);

    /// <summary>Loads the directory's weights into <paramref name="parameters"/> and asserts that no tensor was left over.</summary>
    static void Load(IEnumerable<Tensor> parameters, string dir)
    {
        var tensors = Checkpoint.ReadTensors(dir);
        var unused = Checkpoint.LoadInto(parameters, tensors, dir);
        Assert.True(unused.Count == 0, $"{dir}: tensors no parameter took: {string.Join(", ", unused)}");
    }

    [Fact]
    public void Qwen2_decoder_logits_match_pytorch()
    {
        var dir = ModelDir("qwen2-tiny");
        var config = DecoderConfig.Load(Path.Combine(dir, "config.json"));
        Assert.True(config.AttentionBias, "model_type qwen2 implies q/k/v biases");
        Assert.False(config.TieWordEmbeddings);
        Assert.Equal((4, 2, 2), (config.NumHeads, config.NumKvHeads, config.NumLayers));
        var model = new DecoderLM(config, new Rng(1));
        Load(model.Parameters(), dir);

        var f = Parity(dir);
        var check = new Checker(output, "qwen2-tiny");
        using (NoGrad.Begin())
            check.Check("logits", model.Logits(Ints(f["input_ids"]), f["input_ids"].Shape[0]), f["logits"]);
        check.AssertAll();
    }

    [Fact]
    public void Tied_llama_decoder_logits_match_pytorch()
    {
        var dir = ModelDir("llama-tied-tiny");
        var config = DecoderConfig.Load(Path.Combine(dir, "config.json"));
        Assert.False(config.AttentionBias, "model_type llama has no q/k/v biases");
        Assert.True(config.TieWordEmbeddings);
        Assert.Equal((2, 1), (config.NumHeads, config.NumKvHeads));
        Assert.DoesNotContain("lm_head.weight", Checkpoint.ReadTensors(dir).Keys);
        var model = new DecoderLM(config, new Rng(1));
        Load(model.Parameters(), dir);
        Assert.Same(model.EmbedTokens, model.LmHead);

        var f = Parity(dir);
        var check = new Checker(output, "llama-tied");
        using (NoGrad.Begin())
            check.Check("logits", model.Logits(Ints(f["input_ids"]), f["input_ids"].Shape[0]), f["logits"]);
        check.AssertAll();
    }

    [Fact]
    public void Vision_language_model_matches_pytorch_through_encoder_idefics3_pixel_shuffle_projector_and_decoder()
    {
        var dir = ModelDir("vlm-tiny");
        var model = RilVlmFamily.LoadModel(dir);   // fails on any tensor left over
        var config = model.Config;
        var (text, imageToken) = (config.Text, config.ImageTokenId);
        Assert.Equal(2, config.PixelShuffle);
        Assert.True(text.AttentionBias, "model_type qwen2 in text_config implies q/k/v biases");
        Assert.Equal(4, model.TokensPerImage);

        var f = Parity(dir);
        var ids = Ints(f["input_ids"]);
        Assert.Equal(model.TokensPerImage, ids.Count(id => id == imageToken));
        var pixels = Constant(f["pixel_values"]);
        var check = new Checker(output, "vlm-tiny");
        using (NoGrad.Begin())
        {
            check.Check("vision_features", model.Vision!.Forward(pixels), f["vision_features"]);
            // The projector's MLP alone, on the reference's (Idefics3-ordered) shuffled features: separates an MLP
            // error from a pixel-shuffle ordering error when image_features fails.
            var p = model.Projector!;
            var mlp = Ops.Linear(Ops.GeluExact(Ops.Linear(Constant(f["pixel_shuffle"]), p.W1, p.B1)), p.W2, p.B2);
            check.Check("projector MLP on reference shuffle", Ops.Reshape(mlp, -1, text.HiddenSize), f["image_features"]);
            check.Check("image_features", model.ImageFeatures(pixels), f["image_features"]);
            check.Check("logits", model.Logits(ids, f["input_ids"].Shape[0], pixels), f["logits"]);
        }
        check.AssertAll();
    }

    /// <summary>Compares tensors, prints the worst error of each, and fails at the end naming every tensor over the tolerance.</summary>
    sealed class Checker(ITestOutputHelper output, string fixture)
    {
        readonly List<string> _failures = new();
        double _worst;
        string _worstName = "";

        public void Check(string name, Tensor actual, SafeTensorEntry expected)
        {
            if (!actual.Shape.SequenceEqual(expected.Shape))
            {
                _failures.Add($"{name}: engine shape {ShapeOf.Format(actual.Shape)}, fixture {ShapeOf.Format(expected.Shape)}");
                return;
            }
            var a = actual.Data;
            var b = expected.Data;
            double maxB = 0;
            foreach (var v in b) maxB = Math.Max(maxB, Math.Abs(v));
            double floor = Math.Max(FloorFraction * maxB, 1e-30);
            double worstRel = 0, worstAbs = 0;
            int worstAt = 0;
            for (int i = 0; i < b.Length; i++)
            {
                double diff = Math.Abs((double)a[i] - b[i]);
                if (double.IsNaN(diff)) diff = double.PositiveInfinity;
                worstAbs = Math.Max(worstAbs, diff);
                double rel = diff / Math.Max(Math.Abs(b[i]), floor);
                if (rel > worstRel) { worstRel = rel; worstAt = i; }
            }
            double normwise = worstAbs / Math.Max(maxB, 1e-30);
            output.WriteLine($"{fixture,-11} {name,-36} rel {worstRel:E2} at {worstAt,4}  (norm-wise {normwise:E2}, max|b| {maxB:G4}, {b.Length} values)");
            if (worstRel > _worst) { _worst = worstRel; _worstName = name; }
            if (!(worstRel <= Tolerance))
                _failures.Add($"{name}: relative error {worstRel:E3} > {Tolerance:E0} at flat index {worstAt} " +
                              $"(engine {a[worstAt]:G9}, torch {b[worstAt]:G9}; norm-wise {normwise:E3})");
        }

        public void AssertAll()
        {
            output.WriteLine($"{fixture}: worst relative error {_worst:E2} ({_worstName})");
            Assert.True(_failures.Count == 0, $"{fixture}: {_failures.Count} tensor(s) differ from PyTorch:\n  " + string.Join("\n  ", _failures));
        }
    }
}
