using System.Text.Json.Nodes;
using Ril.Export;
using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Generation;
using Ril.Tensors;
using Ril.Tensors.Autograd;
using Ril.Tensors.Kernels;
using Ril.Tests.Data;
using Ril.Text;

namespace Ril.Tests.Export;

/// <summary>
/// `ril export gguf`: random tiny Qwen2 and Llama models written as GGUF and read back by an independent parser of the
/// format (<see cref="GgufReader"/>) into a Ril decoder (<see cref="GgufDecoder"/>): the keys and values llama.cpp reads,
/// the tensors' names and (reversed) dims, the same logits and the same greedy continuation as the model folder gives.
/// </summary>
public sealed class GgufExportTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("ril-gguf-").FullName;
    public void Dispose() => Directory.Delete(_root, recursive: true);

    const string Template = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
    const int ExtraRows = 3;   // embedding rows past the tokenizer's ids, as real checkpoints pad vocab_size (not in generation tests: a random model may pick them)

    /// <summary>A Hub-layout folder of a random decoder with the test tokenizer; norms and biases random too, so that a misplaced one shows.</summary>
    string MakeModel(string modelType, bool tied, int extraRows = 0, ulong seed = 5)
    {
        var dir = Path.Combine(_root, $"{modelType}-{(tied ? "tied" : "untied")}");
        var tokenizer = BpeTokenizer.Load(TinyModels.TokenizerPath);
        var config = new DecoderConfig
        {
            ModelType = modelType, VocabSize = tokenizer.VocabSize + extraRows, HiddenSize = 32, IntermediateSize = 48, NumLayers = 2,
            NumHeads = 4, NumKvHeadsField = 2, MaxPositions = 256, RopeTheta = modelType == "llama" ? 500000f : 10000f, RmsNormEps = 1e-5f,
            TieWordEmbeddings = tied, AttentionBias = modelType != "qwen3",   // biases on llama too: the q/k permutation must move them with their rows
            HeadDimField = modelType == "qwen3" ? 16 : null,                  // Qwen3: head_dim is not hidden_size / heads
        };
        var model = new DecoderLM(config, new Rng(seed), initStd: 0.25f);
        var rng = new Rng(seed + 1);
        foreach (var p in model.Parameters().Where(p => p.Shape.Length == 1))
        {
            rng.FillNormal(p.Data, 0.2f);
            if (p.Name!.EndsWith("norm.weight")) for (int i = 0; i < p.Length; i++) p.Data[i] += 1f;
        }
        Checkpoint.Save(dir, model.ConfigJson(), model.Parameters());
        File.Copy(TinyModels.TokenizerPath, Path.Combine(dir, "tokenizer.json"));
        var tokenizerConfig = new JsonObject
        {
            ["bos_token"] = null, ["eos_token"] = "<|im_end|>", ["pad_token"] = "<|endoftext|>", ["add_bos_token"] = false, ["chat_template"] = Template,
        };
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), tokenizerConfig.ToJsonString());
        return dir;
    }

    static float[] Logits(ICausalLM model, int[] ids)
    {
        using (NoGrad.Begin()) return ((DecoderLM)model).Logits(ids, 1).ToArray();
    }

    /// <summary>Greedy continuation of a chat prompt, as `ril generate` runs it (<see cref="ChatModel.NewGenerator"/>).</summary>
    static int[] Greedy(ChatModel chat, int[] prompt, int tokens = 24) =>
        chat.NewGenerator().Generate([new GenerationRequest(prompt)], new SamplingOptions { Temperature = 0, MaxNewTokens = tokens })[0][0].TokenIds;

    [Theory]
    [InlineData("qwen2", false)]
    [InlineData("qwen2", true)]
    [InlineData("llama", true)]
    [InlineData("llama", false)]
    [InlineData("qwen3", true)]
    [InlineData("qwen3", false)]
    public void Float32_export_reads_back_as_the_same_model(string modelType, bool tied)
    {
        var dir = MakeModel(modelType, tied);
        var chat = ChatModel.Load(dir);
        var path = Path.Combine(_root, "model.gguf");
        var summary = GgufExport.Write(chat.Model, dir, path, GgufTensorType.F32);

        var gguf = new GgufReader(path);
        var c = ((DecoderLM)chat.Model).Config;
        Assert.Equal(3u, gguf.Version);
        Assert.Equal(modelType, gguf["general.architecture"]);
        Assert.Equal(modelType, summary.Architecture);
        Assert.Equal(0u, gguf["general.file_type"]);
        Assert.Equal((uint)c.NumLayers, gguf[$"{modelType}.block_count"]);
        Assert.Equal((uint)c.HiddenSize, gguf[$"{modelType}.embedding_length"]);
        Assert.Equal((uint)c.IntermediateSize, gguf[$"{modelType}.feed_forward_length"]);
        Assert.Equal((uint)c.MaxPositions, gguf[$"{modelType}.context_length"]);
        Assert.Equal(4u, gguf[$"{modelType}.attention.head_count"]);
        Assert.Equal(2u, gguf[$"{modelType}.attention.head_count_kv"]);
        Assert.Equal(c.RopeTheta, gguf[$"{modelType}.rope.freq_base"]);
        Assert.Equal(1e-5f, gguf[$"{modelType}.attention.layer_norm_rms_epsilon"]);
        Assert.Equal((uint)c.VocabSize, gguf[$"{modelType}.vocab_size"]);
        bool qwen3 = modelType == "qwen3";
        uint headDim = qwen3 ? 16u : 8u;
        Assert.Equal(headDim, gguf[$"{modelType}.rope.dimension_count"]);
        Assert.Equal(qwen3, gguf.Has($"{modelType}.attention.key_length"));   // written for an explicit head_dim
        if (qwen3) Assert.Equal(headDim, gguf[$"{modelType}.attention.value_length"]);

        // Tensors: llama.cpp's names, dims innermost first, 1-D tensors F32, no output when tied; Qwen3: q/k norms, no biases.
        int expectedCount = 1 + 2 * (9 + (qwen3 ? 2 : 3)) + 1 + (tied ? 0 : 1);
        Assert.Equal(expectedCount, gguf.Tensors.Count);
        Assert.Equal([32UL, (ulong)c.VocabSize], gguf.Tensor("token_embd.weight").Dims);
        Assert.Equal([32UL, 2 * headDim], gguf.Tensor("blk.1.attn_k.weight").Dims);   // [kv·headDim rows, 32 cols] reversed
        Assert.Equal([48UL, 32UL], gguf.Tensor("blk.0.ffn_down.weight").Dims);
        Assert.Equal([32UL, 48UL], gguf.Tensor("blk.0.ffn_gate.weight").Dims);
        if (qwen3) Assert.Equal([16UL], gguf.Tensor("blk.1.attn_k_norm.weight").Dims);
        else Assert.Equal([16UL], gguf.Tensor("blk.0.attn_v.bias").Dims);
        Assert.Equal(tied, !gguf.Tensors.Any(t => t.Name == "output.weight"));
        Assert.All(gguf.Tensors, t => Assert.Equal(0u, t.Type));
        // llama: q rows are in llama.cpp's pair order, not the checkpoint's; qwen2 and qwen3 (NeoX rotary): as they are.
        var q = ((DecoderLM)chat.Model).Layers[0].QProj!.ToArray();
        Assert.Equal(modelType != "llama", q.SequenceEqual(gguf.Read(gguf.Tensor("blk.0.attn_q.weight"))));

        var loaded = GgufDecoder.Load(gguf);
        int[] prompt = chat.EncodeChat([ChatMessage.User("What is 2 + 3? Count the red circles.")]);
        var expected = Logits(chat.Model, prompt);
        var actual = Logits(loaded, prompt);
        Assert.Equal(expected.Length, actual.Length);
        Assert.True(expected.Zip(actual).Max(p => Math.Abs(p.First - p.Second)) < 1e-4f, "float32 GGUF logits differ from the model folder's");
        var continuation = Greedy(chat, prompt);
        Assert.Equal(24, continuation.Length);
        Assert.Equal(continuation, Greedy(chat.With(loaded), prompt));
    }

    [Theory]
    [InlineData(GgufTensorType.F16)]
    [InlineData(GgufTensorType.BF16)]
    public void Half_precision_exports_hold_the_rounded_weights(GgufTensorType type)
    {
        var dir = MakeModel("qwen2", tied: true);
        var chat = ChatModel.Load(dir);
        var path = Path.Combine(_root, "half.gguf");
        GgufExport.Write(chat.Model, dir, path, type);
        var gguf = new GgufReader(path);
        Assert.Equal(type == GgufTensorType.F16 ? 1u : 32u, gguf["general.file_type"]);
        Assert.All(gguf.Tensors, t => Assert.Equal(t.Dims.Length == 1 ? 0u : (uint)type, t.Type));
        var loaded = GgufDecoder.Load(gguf);

        // The file holds exactly the model's matrices rounded to nearest (even): the same logits as Ril on rounded weights.
        var rounded = ChatModel.Load(dir);
        foreach (var p in rounded.Parameters().Where(p => p.Shape.Length == 2))
            for (int i = 0; i < p.Length; i++)
                p.Data[i] = type == GgufTensorType.F16 ? (float)(Half)p.Data[i] : BFloat16.ToFloat(BFloat16.FromFloat(p.Data[i]));
        int[] prompt = chat.EncodeChat([ChatMessage.User("How many squares are there?")]);
        var fromFile = Logits(loaded, prompt);
        Assert.True(Logits(rounded.Model, prompt).Zip(fromFile).Max(p => Math.Abs(p.First - p.Second)) < 1e-5f);
        // And the rounding itself stays small next to the logits' spread (bf16 keeps 8 bits of mantissa, f16 11).
        var exact = Logits(chat.Model, prompt);
        float error = exact.Zip(fromFile).Max(p => Math.Abs(p.First - p.Second)), spread = exact.Max() - exact.Min();
        Assert.True(error < (type == GgufTensorType.F16 ? 0.005f : 0.03f) * spread, $"{type}: logits move by {error} of a spread of {spread}");
    }

    [Fact]
    public void Tokenizer_metadata_is_the_folders_vocabulary_merges_and_special_tokens()
    {
        var dir = MakeModel("qwen2", tied: true, ExtraRows);
        var chat = ChatModel.Load(dir);
        var path = Path.Combine(_root, "vocab.gguf");
        GgufExport.Write(chat.Model, dir, path, GgufTensorType.F16);
        var gguf = new GgufReader(path);
        var tokenizer = chat.Tokenizer;

        Assert.Equal("gpt2", gguf["tokenizer.ggml.model"]);
        Assert.Equal("qwen2", gguf["tokenizer.ggml.pre"]);
        var tokens = ((object[])gguf["tokenizer.ggml.tokens"]).Cast<string>().ToArray();
        var types = ((object[])gguf["tokenizer.ggml.token_type"]).Cast<int>().ToArray();
        Assert.Equal(tokenizer.VocabSize + ExtraRows, tokens.Length);
        Assert.Equal(tokens.Length, types.Length);
        for (int id = 0; id < tokenizer.VocabSize; id++) Assert.Equal(tokenizer.IdToToken(id), tokens[id]);
        for (int id = tokenizer.VocabSize; id < tokens.Length; id++) Assert.Equal(($"[PAD{id}]", 5), (tokens[id], types[id]));   // unused
        int imStart = tokenizer.TokenToId("<|im_start|>")!.Value, imEnd = tokenizer.TokenToId("<|im_end|>")!.Value, endOfText = tokenizer.TokenToId("<|endoftext|>")!.Value;
        Assert.Equal(3, types[imStart]);   // control
        Assert.Equal(1, types[tokenizer.TokenToId("a")!.Value]);   // normal
        var json = JsonNode.Parse(File.ReadAllText(TinyModels.TokenizerPath))!;
        var merges = ((object[])gguf["tokenizer.ggml.merges"]).Cast<string>().ToArray();
        Assert.Equal(json["model"]!["merges"]!.AsArray().Select(m => m is JsonArray pair ? $"{pair[0]} {pair[1]}" : (string)m!), merges);
        Assert.Equal((uint)imEnd, gguf["tokenizer.ggml.eos_token_id"]);
        Assert.Equal((uint)endOfText, gguf["tokenizer.ggml.padding_token_id"]);
        Assert.False(gguf.Has("tokenizer.ggml.bos_token_id"));   // bos_token null and no bos_token_id in config.json
        Assert.Equal(false, gguf["tokenizer.ggml.add_bos_token"]);
        Assert.Equal(Template, gguf["tokenizer.chat_template"]);

        // A tokenizer rebuilt from the GGUF alone (tokens, merges, control tokens, Qwen2's pre-tokenizer) encodes as the folder's.
        var rebuilt = new JsonObject
        {
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["vocab"] = new JsonObject(tokens.Select((t, i) => (t, i)).Where(x => types[x.i] == 1).Select(x => KeyValuePair.Create(x.t, (JsonNode?)x.i))),
                ["merges"] = new JsonArray(merges.Select(m => (JsonNode)m).ToArray()),
            },
            ["added_tokens"] = new JsonArray(tokens.Select((t, i) => (t, i)).Where(x => types[x.i] == 3)
                .Select(x => (JsonNode)new JsonObject { ["id"] = x.i, ["content"] = x.t, ["special"] = true }).ToArray()),
            ["normalizer"] = json["normalizer"]!.DeepClone(),
            ["pre_tokenizer"] = json["pre_tokenizer"]!.DeepClone(),
            ["decoder"] = json["decoder"]!.DeepClone(),
        };
        var fromGguf = BpeTokenizer.FromJson(rebuilt.ToJsonString(), "rebuilt from GGUF");
        foreach (var text in new[] { "What is 2 + 3?", "  Count the red circles:\n1, 22, 333 — naïve café!", "<|im_start|>user\nhi<|im_end|>" })
            Assert.Equal(tokenizer.Encode(text), fromGguf.Encode(text));
    }

    /// <summary>
    /// The VLM families' fixtures: the decoder is exported as llama.cpp's text model of that family (qwen2vl with its
    /// M-RoPE sections; SmolVLM's Llama decoder with the q/k reorder and SmolLM's pre-tokenizer), and text-only prompts
    /// continue the same through the family's own model and through the decoder read back from the file.
    /// </summary>
    [Theory]
    [InlineData("qwen2-vl-tiny", "qwen2vl", "qwen2")]
    [InlineData("smolvlm-tiny", "llama", "smollm")]
    public void Vlm_folders_export_their_text_decoder(string fixture, string arch, string pre)
    {
        var dir = Path.Combine(RepoPaths.Fixtures, "models", fixture);
        var chat = ChatModel.Load(dir);
        var path = Path.Combine(_root, fixture + ".gguf");
        GgufExport.Write(chat.Model, dir, path, GgufTensorType.F32);
        var gguf = new GgufReader(path);
        Assert.Equal(arch, gguf["general.architecture"]);
        Assert.Equal(pre, gguf["tokenizer.ggml.pre"]);
        if (arch == "qwen2vl") Assert.Equal(new object[] { 2, 3, 3, 0 }, (object[])gguf["qwen2vl.rope.dimension_sections"]);
        var loaded = GgufDecoder.Load(gguf);
        int[] prompt = chat.EncodeChat([ChatMessage.User("Describe the picture in one word.")]);
        var options = new SamplingOptions { Temperature = 0, MaxNewTokens = 12 };
        Assert.Equal(new Generator(chat.Model).Generate([new GenerationRequest(prompt)], options)[0][0].TokenIds,
                     new Generator(loaded).Generate([new GenerationRequest(prompt)], options)[0][0].TokenIds);
        var expected = Logits(GgufExport.DecoderOf(chat.Model), prompt);
        Assert.True(expected.Zip(Logits(loaded, prompt)).Max(p => Math.Abs(p.First - p.Second)) < 1e-4f);
    }

    /// <summary>Decoders whose llama.cpp graph the exporter does not write yet are refused, never exported as another architecture.</summary>
    [Theory]
    [InlineData("qwen3-vl-tiny", "DeepStack")]
    [InlineData("qwen3.5-tiny", "Qwen3.5")]
    public void Decoders_it_cannot_write_are_refused(string fixture, string reason)
    {
        var dir = Path.Combine(RepoPaths.Fixtures, "models", fixture);
        var error = Assert.Throws<NotSupportedException>(() => GgufExport.Write(ChatModel.Load(dir).Model, dir, Path.Combine(_root, fixture + ".gguf"), GgufTensorType.F32));
        Assert.Contains(reason, error.Message);
        Assert.False(File.Exists(Path.Combine(_root, fixture + ".gguf")));
    }

    [Fact]
    public void An_adapter_folder_exports_its_base_with_the_adapters_merged()
    {
        var dir = MakeModel("qwen2", tied: false);
        var chat = ChatModel.Load(dir);
        var adapters = chat.Model.AttachLora(new LoraConfig { Rank = 4, Alpha = 8 }, new Rng(9));
        var rng = new Rng(10);
        foreach (var a in adapters.All) rng.FillNormal(a.B.Data, 0.2f);
        int[] prompt = chat.EncodeChat([ChatMessage.User("Which shape is largest?")]);
        var adapted = Logits(chat.Model, prompt);
        var adapterDir = Path.Combine(_root, "adapter");
        PeftAdapter.Save(adapterDir, adapters, PeftAdapter.CausalLm, baseModel: "Org/unused-base");

        var resolved = new List<string>();
        var (model, tokenizerDir) = ExportSource.Load(adapterDir, id => { resolved.Add(id); return dir; }, baseModel: dir);
        Assert.Equal([dir], resolved);
        Assert.Equal(dir, tokenizerDir);
        var path = Path.Combine(_root, "merged.gguf");
        GgufExport.Write(model.Model, tokenizerDir, path, GgufTensorType.F32);
        var merged = Logits(GgufDecoder.Load(new GgufReader(path)), prompt);
        Assert.True(adapted.Zip(merged).Max(p => Math.Abs(p.First - p.Second)) < 1e-4f, "the GGUF of an adapter folder computes other logits than base + adapters");
        Assert.False(adapted.Zip(Logits(ChatModel.Load(dir).Model, prompt)).All(p => Math.Abs(p.First - p.Second) < 1e-3f), "the adapters changed nothing: the test shows nothing");

        // Without --base, the adapter's own base_model_name_or_path is resolved.
        ExportSource.Load(adapterDir, id => { resolved.Add(id); return dir; });
        Assert.Equal("Org/unused-base", resolved[^1]);
    }

    [Fact]
    public void Errors_name_the_file_and_the_field()
    {
        var dir = MakeModel("qwen2", tied: true);
        var chat = ChatModel.Load(dir);
        var tokenizerPath = Path.Combine(dir, "tokenizer.json");
        var json = JsonNode.Parse(File.ReadAllText(tokenizerPath))!;
        json["pre_tokenizer"]!["pretokenizers"]![0]!["pattern"]!["Regex"] = @"\w+|\s+";
        File.WriteAllText(tokenizerPath, json.ToJsonString());
        var out1 = Path.Combine(_root, "x.gguf");
        var e = Assert.Throws<InvalidDataException>(() => GgufExport.Write(chat.Model, dir, out1, GgufTensorType.F16));
        Assert.Contains("tokenizer.json", e.Message);
        Assert.Contains("'pre_tokenizer'", e.Message);
        Assert.Contains("--pre", e.Message);
        Assert.False(File.Exists(out1));
        GgufExport.Write(chat.Model, dir, out1, GgufTensorType.F16, pre: "qwen2");   // named by hand, it exports
        Assert.Equal("qwen2", new GgufReader(out1)["tokenizer.ggml.pre"]);

        var small = Path.Combine(_root, "small");
        var config = ((DecoderLM)chat.Model).Config with { VocabSize = 100 };
        Checkpoint.Save(small, JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(config))!, new DecoderLM(config, new Rng(1)).Parameters());
        File.Copy(TinyModels.TokenizerPath, Path.Combine(small, "tokenizer.json"));
        e = Assert.Throws<InvalidDataException>(() => GgufExport.Write(ChatModel.Load(small).Model, small, out1, GgufTensorType.F16));
        Assert.Contains("vocab_size", e.Message);

        var adapterDir = Path.Combine(_root, "bare-adapter");
        Directory.CreateDirectory(adapterDir);
        File.WriteAllText(Path.Combine(adapterDir, PeftAdapter.ConfigFile), """{"peft_type": "LORA"}""");
        e = Assert.Throws<InvalidDataException>(() => ExportSource.Load(adapterDir, id => id));
        Assert.Contains(PeftAdapter.ConfigFile, e.Message);
        Assert.Contains("'base_model_name_or_path'", e.Message);
    }
}
