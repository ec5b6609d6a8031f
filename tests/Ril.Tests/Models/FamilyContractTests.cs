using Ril.Models;
using Ril.Models.Generation;
using Ril.Tensors;
using Ril.Tensors.Kernels;
using Ril.Tensors.Autograd;
using Ril.Tensors.IO;
using Ril.Tests.Data;
using Ril.Text;
using Ril.Training;

namespace Ril.Tests.Models;

/// <summary>
/// The one contract every registered model family keeps, run over a tiny checkpoint of each in its Hugging Face layout
/// (tests/fixtures/models, written by make_model_fixtures.py with an independent float64 PyTorch reference): it loads
/// through the registry; its forward equals the reference; cached greedy decoding equals recomputing the whole sequence;
/// log-probs (padded and packed) equal the forward's; LoRA attaches as a no-op that trains only the adapters and whose
/// base view is the model; the scalar head reads the last real token, whatever the padding. A new family adds a
/// checkpoint to <see cref="Checkpoints"/>; <see cref="Every_registered_family_has_a_checkpoint_here"/> makes it.
/// </summary>
public sealed class FamilyContractTests
{
    /// <summary>Tiny checkpoints under tests/fixtures/models, at least one per registered family.</summary>
    static readonly string[] CheckpointNames = ["vlm-tiny", "qwen2-tiny", "llama-tied-tiny", "qwen2-vl-tiny", "qwen2.5-vl-tiny", "qwen3-vl-tiny", "qwen3.5-tiny", "smolvlm-tiny"];
    public static TheoryData<string> Checkpoints => new(CheckpointNames);

    // float32 against float64, worst element (|a − b| / max(|b|, 0.01·max|b|)): qwen2.5-vl-tiny's logits sit at 0.9–1.3e-4
    // depending only on the order of the softmax's float32 operations (96f586a), the other fixtures at 1.4–7.4e-5.
    const double Tolerance = 2e-4;

    static string Dir(string name) => Path.Combine(RepoPaths.Fixtures, "models", name);

    sealed record Loaded(IModelFamily Family, ChatModel Chat, SafeTensorFile Parity, int Rows, int Length, int[] Ids, PixelInputs? Pixels);

    static Loaded Load(string name)
    {
        var dir = Dir(name);
        var json = ModelFamilies.ReadConfig(dir, out var path);
        var family = ModelFamilies.Of(json, path);
        var (model, processor) = family.Load(dir, json, path, BpeTokenizer.Load(TinyModels.TokenizerPath));
        var parity = SafeTensors.Read(Path.Combine(dir, "parity.safetensors"));
        var ids = parity["input_ids"];
        bool Has(string tensor) => parity.Tensors.Any(t => t.Name == tensor);
        // pixel_values, with image_grid_thw for a family whose images have grids (Qwen2-VL: t, h, w per image).
        PixelInputs? pixels = !Has("pixel_values") ? null : new PixelInputs(Tensor.FromArray(parity["pixel_values"].Data, parity["pixel_values"].Shape),
            Has("image_grid_thw") ? parity["image_grid_thw"].Data.Select(v => (int)MathF.Round(v)).Chunk(3).ToList() : []);
        return new Loaded(family, new ChatModel(model, new FixtureVocabulary(processor), dir), parity, ids.Shape[0], ids.Shape[1],
            ids.Data.Select(v => (int)MathF.Round(v)).ToArray(), pixels);
    }

    /// <summary>Logits [rows·T, vocab] of whole rows (row 0 carries the images), through the model inputs' one builder.</summary>
    static Tensor Logits(ICausalLM model, int[] ids, int rows, PixelInputs? pixels)
    {
        int t = ids.Length / rows;
        var builder = new ModelInputs.Builder(model, rows, t, padId: 0);
        for (int r = 0; r < rows; r++) builder.Place(r * t, ids.AsSpan(r * t, t), t, r == 0 ? pixels : null);
        return model.Head(model.Hidden(builder.Build()));
    }

    /// <summary>The family's processor, padding with id 0: the fixtures' 97-token vocabulary is not the test tokenizer's.</summary>
    sealed class FixtureVocabulary(IProcessor processor) : IProcessor
    {
        public BpeTokenizer Tokenizer => processor.Tokenizer;
        public IReadOnlyList<int> StopTokens => [];
        public int PadId => 0;
        public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true) => processor.Render(messages, addGenerationPrompt);
        public int[] EncodeChat(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true) => processor.EncodeChat(messages, addGenerationPrompt);
        public int[] EncodeRaw(string text, int images = 0) => processor.EncodeRaw(text, images);
        public PixelInputs? Pixels(IReadOnlyList<Ril.Data.Images.Image> images) => processor.Pixels(images);
        public int PlaceholdersFor(IReadOnlyList<Ril.Data.Images.Image> images) => processor.PlaceholdersFor(images);
        public int[] ExpandImages(int[] promptIds, IReadOnlyList<Ril.Data.Images.Image> images) => processor.ExpandImages(promptIds, images);
        public string Decode(ReadOnlySpan<int> ids) => processor.Decode(ids);
        public void Check() => processor.Check();
    }


    [Fact]
    public void Every_registered_family_has_a_checkpoint_here()
    {
        var covered = CheckpointNames.Select(name => ModelFamilies.Of(ModelFamilies.ReadConfig(Dir(name), out var p), p).Name).ToHashSet();
        foreach (var family in ModelFamilies.All) Assert.Contains(family.Name, covered);
    }

    [Fact]
    public void An_unknown_model_type_names_the_file_and_the_known_ones()
    {
        var e = Assert.Throws<InvalidDataException>(() => ModelFamilies.Of(new System.Text.Json.Nodes.JsonObject { ["model_type"] = "gpt_neo" }, "x/config.json"));
        Assert.Contains("x/config.json", e.Message);
        Assert.Contains("gpt_neo", e.Message);
        Assert.Contains("qwen2", e.Message);
    }

    [Theory, MemberData(nameof(Checkpoints))]
    public void The_forward_equals_the_float64_reference(string name)
    {
        var m = Load(name);
        using var _ = NoGrad.Begin();
        var logits = Logits(m.Chat.Model, m.Ids, m.Rows, m.Pixels);
        Assert.Equal(m.Parity["logits"].Shape, logits.Shape);
        double worst = ParityMetric.WorstRelative(logits.Data, m.Parity["logits"].Data);
        Assert.True(worst <= Tolerance, $"{name} ({m.Family.Name}): worst relative error {worst:E2}");
    }

    [Theory, MemberData(nameof(Checkpoints))]
    public void Loaded_frozen_the_bf16_matrices_stay_bf16_and_the_logits_equal_the_reference(string name)
    {
        // What generate, serve and eval load: a checkpoint's BF16 matrices become bf16 storage as read, never widened.
        var dir = Dir(name);
        var json = ModelFamilies.ReadConfig(dir, out var path);
        var (model, _) = ModelFamilies.Of(json, path).Load(dir, json, path, BpeTokenizer.Load(TinyModels.TokenizerPath), frozen: true);
        var m = Load(name);
        bool storedBf16 = SafeTensors.Open(Path.Combine(dir, "model.safetensors")) is var file && file.Names.Any(n => file.Dtype(n) == "BF16");
        file.Dispose();
        Assert.Equal(storedBf16, model.Parameters().Any(p => p.IsBf16));
        using var _ = NoGrad.Begin();
        var logits = Logits(model, m.Ids, m.Rows, m.Pixels);
        double worst = ParityMetric.WorstRelative(logits.Data, m.Parity["logits"].Data);
        Assert.True(worst <= Tolerance, $"{name} loaded frozen: worst relative error {worst:E2}");
    }

    [Theory, MemberData(nameof(Checkpoints))]
    public void Frozen_in_bf16_every_part_still_runs_and_gives_the_same_logits(string name)
    {
        // model.frozen_bf16 with nothing trainable: every frozen matrix (vision tables included) moves to bf16 storage. Against
        // the same model whose float32 weights were rounded to bf16 values, the logits must not move beyond rounding.
        var m = Load(name);
        var parameters = m.Chat.Model.Parameters().ToList();
        foreach (var p in parameters)
        {
            p.RequiresGrad = false;
            for (int i = 0; i < p.Length; i++) p.Data[i] = BFloat16.ToFloat(BFloat16.FromFloat(p.Data[i]));
        }
        using var _ = NoGrad.Begin();
        var rounded = Logits(m.Chat.Model, m.Ids, m.Rows, m.Pixels).ToArray();
        Assert.True(FrozenWeights.StoreInBf16(parameters) > 0);
        var stored = Logits(m.Chat.Model, m.Ids, m.Rows, m.Pixels).ToArray();
        double worst = ParityMetric.WorstRelative(stored, rounded);
        // Products of five to 64 rows with a bf16 weight group their sums otherwise than the float32 path (32 weights a
        // step, split even/odd): measured 2.6–5.5e-5 on these fixtures, where four rows or fewer agree to the bit.
        Assert.True(worst <= 1e-4, $"{name} ({m.Family.Name}) in bf16: worst relative error {worst:E2}");
    }

    [Theory, MemberData(nameof(Checkpoints))]
    public void Cached_greedy_decoding_equals_recomputing_the_whole_sequence(string name)
    {
        var m = Load(name);
        var model = m.Chat.Model;
        var prompt = m.Ids[..m.Length];
        var generated = new Generator(model, padId: 0).Generate([new GenerationRequest(prompt, Pixels: m.Pixels)],
            new SamplingOptions { Temperature = 0, MaxNewTokens = 6 })[0][0];
        Assert.Equal(6, generated.TokenIds.Length);
        using var _ = NoGrad.Begin();
        int[] sequence = [.. prompt];
        for (int k = 0; k < generated.TokenIds.Length; k++)
        {
            var last = Logits(model, sequence, 1, m.Pixels).ToArray().AsSpan((sequence.Length - 1) * model.VocabSize, model.VocabSize).ToArray();
            if (model.ImageTokenId >= 0) last[model.ImageTokenId] = float.NegativeInfinity;   // a response never holds an image slot
            int argmax = Array.IndexOf(last, last.Max());
            Assert.Equal(argmax, generated.TokenIds[k]);
            Assert.Equal(last[argmax] - Ops.LogSumExp(Logits(model, sequence, 1, m.Pixels).ToArray().AsSpan((sequence.Length - 1) * model.VocabSize, model.VocabSize)),
                generated.LogProbs[k], 3);
            sequence = [.. sequence, argmax];
        }
    }

    [Theory, MemberData(nameof(Checkpoints))]
    public void Log_probs_padded_packed_and_with_shared_prompts_equal_the_forwards(string name)
    {
        var m = Load(name);
        var model = m.Chat.Model;
        // Four rows of different lengths: the fixture's first row (with its images) answered by 4 tokens, by 3 and by
        // none, and its shortened text answered by 2. The first three share their prompt.
        int[] prompt0 = m.Ids[..m.Length], response0 = [5, 17, 3, 9], response2 = [7, 1, 4], response3 = [];
        int[] prompt1 = [.. m.Ids[..3].Where(id => id != model.ImageTokenId)], response1 = [11, 2];
        var cases = new[] { (prompt0, m.Pixels, response0), (prompt1, (PixelInputs?)null, response1), (prompt0, m.Pixels, response2), (prompt0, m.Pixels, response3) };
        var rows = cases.Select(c => new ResponseLogProbs.Row(c.Item1, c.Item2, c.Item3)).ToList();
        using var _ = NoGrad.Begin();
        var expected = new List<float>();
        foreach (var (prompt, pixels, response) in cases)
        {
            var logits = Logits(model, [.. prompt, .. response], 1, pixels).ToArray();
            int v = model.VocabSize;
            for (int k = 0; k < 4; k++)
            {
                if (k >= response.Length) { expected.Add(float.NaN); continue; }
                var row = logits.AsSpan((prompt.Length - 1 + k) * v, v);
                expected.Add(row[response[k]] - Ops.LogSumExp(row));
            }
        }
        foreach (var (pack, share) in new[] { (false, false), (true, false), (false, true) })
        {
            if (share && !ResponseLogProbs.Layout.CanSharePrompts(model))
            {
                // A response would start from a zero recurrent state, not the prompt's: refused, naming the setting.
                var refused = Assert.Throws<NotSupportedException>(() => ResponseLogProbs.Compute(m.Chat, rows, maxLen: 4, sharePrompt: true));
                Assert.Contains("trainer.share_prompt", refused.Message);
                continue;
            }
            var actual = ResponseLogProbs.Compute(m.Chat, rows, maxLen: 4, pack: pack, sharePrompt: share).LogProbs.ToArray();
            for (int i = 0; i < expected.Count; i++)
                if (!float.IsNaN(expected[i])) Assert.True(Math.Abs(actual[i] - expected[i]) < 1e-4, $"{name} pack={pack} share={share} slot {i}: {actual[i]} vs {expected[i]}");
        }
    }

    [Theory, MemberData(nameof(Checkpoints))]
    public void Lora_attaches_as_a_no_op_trains_only_adapters_and_keeps_a_base_view(string name)
    {
        var m = Load(name);
        var model = m.Chat.Model;
        Tensor Forward(ICausalLM x) { using (NoGrad.Begin()) return Logits(x, m.Ids, m.Rows, m.Pixels); }
        var before = Forward(model).ToArray();
        var adapters = model.AttachLora(new LoraConfig { Rank = 2, Alpha = 4 }, new Rng(1));
        Assert.Same(adapters, model.Adapters);
        Assert.Equal(before, Forward(model).ToArray());                                   // B starts at zero
        Assert.All(model.DecoderParameters(), p => Assert.False(p.RequiresGrad));        // the decoder's base is frozen
        Assert.All(adapters.Parameters(), p => Assert.True(p.RequiresGrad));
        var rng = new Rng(2);
        foreach (var a in adapters.All) rng.FillNormal(a.B.Data, 0.1f);
        Assert.NotEqual(before, Forward(model).ToArray());
        Assert.Equal(before, Forward(model.BaseView()).ToArray());                      // the reference, no copy
    }

    [Theory, MemberData(nameof(Checkpoints))]
    public void The_scalar_head_reads_the_last_real_token_whatever_the_padding(string name)
    {
        var m = Load(name);
        var text = m.Chat.Model.LanguageModel(shareWeights: false, new Rng(3));
        Assert.False(text.AcceptsImages);
        var head = new ScalarHeadModel(text, new Rng(4));
        Assert.DoesNotContain(head.Parameters(), p => text.UntiedHead is { } lmHead && ReferenceEquals(p, lmHead));
        int[] a = [4, 8, 15, 16, 23], b = [42, 7, 1];
        using var _ = NoGrad.Begin();
        var together = head.Forward([.. a, .. b, 0, 0], 2, [5, 3]).ToArray();
        var alone = head.Forward(b, 1, [3]).ToArray();
        Assert.Equal(alone[0], together[1], 4);
        // The score is the head's dot product with the last real token's final hidden state.
        var builder = new ModelInputs.Builder(text, 1, a.Length, 0).Place(0, a, 0, null);
        var hidden = text.Hidden(builder.Build()).ToArray().AsSpan((a.Length - 1) * text.HiddenSize, text.HiddenSize);
        float dot = 0;
        for (int i = 0; i < text.HiddenSize; i++) dot += hidden[i] * head.Score.Data[i];
        Assert.Equal(dot, together[0], 4);
    }
}

/// <summary>
/// config.json values that decide sizes or divide are checked before anything is allocated. Before these tests, zero
/// attention heads threw DivideByZeroException, rope_theta 0 and max_position_embeddings ≤ 0 were accepted, and a huge
/// vocabulary allocated until the kernel killed the process.
/// </summary>
public sealed class HostileConfigTests
{
    [Theory]
    [InlineData("""{"model_type":"qwen2","num_attention_heads":0}""", "num_attention_heads")]
    [InlineData("""{"model_type":"qwen2","rope_theta":0}""", "rope_theta")]
    [InlineData("""{"model_type":"qwen2","max_position_embeddings":-1}""", "max_position_embeddings")]
    [InlineData("""{"model_type":"qwen2","rms_norm_eps":-1e-6}""", "rms_norm_eps")]
    [InlineData("""{"model_type":"qwen2","num_key_value_heads":0}""", "num_key_value_heads")]
    [InlineData("""{"model_type":"qwen2","vocab_size":2000000000,"hidden_size":4096,"num_attention_heads":32}""", "vocab_size")]
    [InlineData("""{"model_type":"qwen2","num_hidden_layers":2000000000}""", "num_hidden_layers")]
    [InlineData("""{"model_type":"qwen2","hidden_size":"wide"}""", "config.json:1")]
    public void A_bad_value_is_refused_naming_the_file_and_field(string json, string named)
    {
        var e = Assert.Throws<InvalidDataException>(() => Ril.Models.Families.Llama.DecoderConfig.Parse(json, "m/config.json"));
        Assert.Contains("m/config.json", e.Message);
        Assert.Contains(named, e.Message);
    }
}
