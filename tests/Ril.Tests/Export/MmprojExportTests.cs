using System.Text.Json.Nodes;
using Ril.Export;
using Ril.Models;
using Ril.Models.Families.Llama;
using Ril.Models.Families.Qwen2Vl;
using Ril.Models.Families.SmolVlm;
using Ril.Tensors;
using Ril.Tests.Data;
using Ril.Text;

namespace Ril.Tests.Export;

/// <summary>
/// `ril export mmproj`: the tiny image checkpoints' vision towers written as llama.cpp's mmproj GGUF and read back by the
/// independent <see cref="GgufReader"/>: the clip.* keys llama.cpp's loader reads, with the values of config.json and the
/// processor; every tensor that loader asks of the projector type, with its GGUF dims; and the values of the model's
/// weights after the documented transform (qkv split in thirds, the Conv3d patch kernel split by frame).
/// </summary>
public sealed class MmprojExportTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("ril-mmproj-").FullName;
    public void Dispose() => Directory.Delete(_root, recursive: true);

    static JsonObject Config(string fixture) => (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Fixtures, "models", fixture, "config.json")))!;

    (GgufReader Gguf, MmprojExportSummary Summary, Dictionary<string, float[]> Weights) Export(string fixture, GgufTensorType type)
    {
        var chat = TinyModels.FixtureChat(fixture);
        var path = Path.Combine(_root, $"{fixture}-{type}.gguf");
        var summary = MmprojExport.Write(chat.Model, chat.Processor, path, type, name: fixture);
        var weights = chat.Model.Parameters().ToDictionary(p => p.Name!, p => p.ToArray());
        return (new GgufReader(path), summary, weights);
    }

    static void CommonKeys(GgufReader gguf, string projector, string fixture)
    {
        Assert.Equal(3u, gguf.Version);
        Assert.Equal("clip", gguf["general.architecture"]);
        Assert.Equal("mmproj", gguf["general.type"]);
        Assert.Equal(fixture, gguf["general.name"]);
        Assert.Equal(true, gguf["clip.has_vision_encoder"]);
        Assert.Equal(projector, gguf["clip.projector_type"]);
    }

    static float[] Floats(GgufReader gguf, string key) => ((object[])gguf[key]).Cast<float>().ToArray();
    static float[] Read(GgufReader gguf, string name) => gguf.Read(gguf.Tensor(name));
    static float[] Slice(float[] data, int start, int count) => data.AsSpan(start, count).ToArray();

    /// <summary>Every tensor of the file by name with its GGUF dims (innermost first); nothing else in the file.</summary>
    static void Layout(GgufReader gguf, Dictionary<string, ulong[]> expected)
    {
        Assert.Equal(expected.Keys.Order(), gguf.Tensors.Select(t => t.Name).Order());
        foreach (var (name, dims) in expected) Assert.True(dims.SequenceEqual(gguf.Tensor(name).Dims), $"{name}: dims [{string.Join(", ", gguf.Tensor(name).Dims)}], expected [{string.Join(", ", dims)}]");
    }

    [Theory]
    [InlineData("qwen2-vl-tiny")]
    [InlineData("qwen2.5-vl-tiny")]
    public void Qwen2_vl_towers_export_as_llama_cpps_merger_projectors(string fixture)
    {
        var (gguf, summary, w) = Export(fixture, GgufTensorType.F32);
        bool qwen25 = fixture == "qwen2.5-vl-tiny";
        var vc = Config(fixture)["vision_config"]!;
        int width = (int)vc[qwen25 ? "hidden_size" : "embed_dim"]!, depth = (int)vc["depth"]!, heads = (int)vc["num_heads"]!, patch = (int)vc["patch_size"]!;
        int mlp = qwen25 ? (int)vc["intermediate_size"]! : width * (int)vc["mlp_ratio"]!, text = (int)Config(fixture)["hidden_size"]!, merged = 4 * width;

        string projector = qwen25 ? "qwen2.5vl_merger" : "qwen2vl_merger";
        CommonKeys(gguf, projector, fixture);
        Assert.Equal(projector, summary.ProjectorType);
        Assert.Equal((uint)text, gguf["clip.vision.projection_dim"]);
        Assert.Equal(560u, gguf["clip.vision.image_size"]);   // the converter's default: vision_config has no image_size
        Assert.Equal((uint)patch, gguf["clip.vision.patch_size"]);
        Assert.Equal((uint)width, gguf["clip.vision.embedding_length"]);
        Assert.Equal((uint)mlp, gguf["clip.vision.feed_forward_length"]);
        Assert.Equal((uint)depth, gguf["clip.vision.block_count"]);
        Assert.Equal((uint)heads, gguf["clip.vision.attention.head_count"]);
        Assert.Equal(1e-6f, gguf["clip.vision.attention.layer_norm_epsilon"]);
        Assert.Equal(2u, gguf["clip.vision.spatial_merge_size"]);
        var processor = ((Qwen2VlProcessor)TinyModels.FixtureChat(fixture).Processor).Images;
        Assert.Equal(processor.Mean, Floats(gguf, "clip.vision.image_mean"));
        Assert.Equal(processor.Std, Floats(gguf, "clip.vision.image_std"));
        Assert.Equal(new[] { 0.48145466f, 0.4578275f, 0.40821073f }, Floats(gguf, "clip.vision.image_mean"));
        if (qwen25)
        {
            Assert.Equal(true, gguf["clip.use_silu"]);
            Assert.Equal(2u, gguf["clip.vision.n_wa_pattern"]);   // fullatt_block_indexes [1, 3]: every 2nd block attends to the whole image
        }
        else Assert.False(gguf.Has("clip.use_gelu") || gguf.Has("clip.use_silu"));   // quick GELU: llama.cpp's default

        ulong e = (ulong)width, f = (ulong)mlp, p = (ulong)patch, m = (ulong)merged;
        var expected = new Dictionary<string, ulong[]>
        {
            ["v.patch_embd.weight"] = [p, p, 3, e], ["v.patch_embd.weight.1"] = [p, p, 3, e],
            ["v.post_ln.weight"] = [e], ["mm.0.weight"] = [m, m], ["mm.0.bias"] = [m], ["mm.2.weight"] = [m, (ulong)text], ["mm.2.bias"] = [(ulong)text],
        };
        if (!qwen25) expected["v.post_ln.bias"] = [e];
        for (int i = 0; i < depth; i++)
        {
            string b = $"v.blk.{i}.";
            foreach (var part in new[] { "attn_q", "attn_k", "attn_v", "attn_out" }) { expected[b + part + ".weight"] = [e, e]; expected[b + part + ".bias"] = [e]; }
            foreach (var norm in new[] { "ln1", "ln2" })
            {
                expected[b + norm + ".weight"] = [e];
                if (!qwen25) expected[b + norm + ".bias"] = [e];
            }
            foreach (var up in qwen25 ? new[] { "ffn_gate", "ffn_up" } : ["ffn_up"]) { expected[b + up + ".weight"] = [e, f]; expected[b + up + ".bias"] = [f]; }
            expected[b + "ffn_down.weight"] = [f, e];
            expected[b + "ffn_down.bias"] = [e];
        }
        Layout(gguf, expected);
        Assert.Equal(expected.Count, summary.Tensors);
        Assert.All(gguf.Tensors, t => Assert.Equal(0u, t.Type));

        // Values: q, k, v are the thirds of the fused qkv rows (and bias); the two patch kernels are the Conv3d's frames.
        int block = depth - 1, n = width * width;
        var qkv = w[$"visual.blocks.{block}.attn.qkv.weight"];
        var qkvBias = w[$"visual.blocks.{block}.attn.qkv.bias"];
        string[] parts = ["attn_q", "attn_k", "attn_v"];
        for (int k = 0; k < 3; k++)
        {
            Assert.Equal(Slice(qkv, k * n, n), Read(gguf, $"v.blk.{block}.{parts[k]}.weight"));
            Assert.Equal(Slice(qkvBias, k * width, width), Read(gguf, $"v.blk.{block}.{parts[k]}.bias"));
        }
        Assert.NotEqual(Read(gguf, $"v.blk.{block}.attn_q.weight"), Read(gguf, $"v.blk.{block}.attn_k.weight"));
        var conv = w["visual.patch_embed.proj.weight"];   // [E, 3, 2, p, p]
        int plane = patch * patch;
        var frame0 = Read(gguf, "v.patch_embd.weight");
        var frame1 = Read(gguf, "v.patch_embd.weight.1");
        for (int i = 0; i < width * 3; i++)
        {
            Assert.Equal(Slice(conv, (2 * i) * plane, plane), Slice(frame0, i * plane, plane));
            Assert.Equal(Slice(conv, (2 * i + 1) * plane, plane), Slice(frame1, i * plane, plane));
        }
        Assert.NotEqual(frame0, frame1);
        var same = new Dictionary<string, string>
        {
            [$"v.blk.{block}.attn_out.weight"] = $"visual.blocks.{block}.attn.proj.weight",
            [$"v.blk.{block}.attn_out.bias"] = $"visual.blocks.{block}.attn.proj.bias",
            [$"v.blk.{block}.ln1.weight"] = $"visual.blocks.{block}.norm1.weight",
            [$"v.blk.{block}.ln2.weight"] = $"visual.blocks.{block}.norm2.weight",
            [$"v.blk.{block}.ffn_up.weight"] = $"visual.blocks.{block}.mlp.{(qwen25 ? "up_proj" : "fc1")}.weight",
            [$"v.blk.{block}.ffn_down.weight"] = $"visual.blocks.{block}.mlp.{(qwen25 ? "down_proj" : "fc2")}.weight",
            [$"v.blk.{block}.ffn_down.bias"] = $"visual.blocks.{block}.mlp.{(qwen25 ? "down_proj" : "fc2")}.bias",
            ["v.post_ln.weight"] = "visual.merger.ln_q.weight",
            ["mm.0.weight"] = "visual.merger.mlp.0.weight", ["mm.0.bias"] = "visual.merger.mlp.0.bias",
            ["mm.2.weight"] = "visual.merger.mlp.2.weight", ["mm.2.bias"] = "visual.merger.mlp.2.bias",
        };
        if (qwen25) same[$"v.blk.{block}.ffn_gate.weight"] = $"visual.blocks.{block}.mlp.gate_proj.weight";
        else same["v.post_ln.bias"] = "visual.merger.ln_q.bias";
        foreach (var (gguName, hubName) in same) Assert.True(w[hubName].SequenceEqual(Read(gguf, gguName)), $"{gguName} is not {hubName}");
        Assert.Equal(w.Where(kv => kv.Key.StartsWith("visual.")).Sum(kv => (long)kv.Value.Length), summary.Parameters);
    }

    [Fact]
    public void Smolvlm_tower_exports_as_llama_cpps_idefics3_projector()
    {
        const string fixture = "smolvlm-tiny";
        var (gguf, summary, w) = Export(fixture, GgufTensorType.F32);
        var config = Config(fixture);
        var vc = config["vision_config"]!;
        int width = (int)vc["hidden_size"]!, ff = (int)vc["intermediate_size"]!, layers = (int)vc["num_hidden_layers"]!, patch = (int)vc["patch_size"]!, image = (int)vc["image_size"]!;
        int text = (int)config["text_config"]!["hidden_size"]!, scale = (int)config["scale_factor"]!;

        CommonKeys(gguf, "idefics3", fixture);
        Assert.Equal((uint)text, gguf["clip.vision.projection_dim"]);
        Assert.Equal((uint)image, gguf["clip.vision.image_size"]);
        Assert.Equal((uint)patch, gguf["clip.vision.patch_size"]);
        Assert.Equal((uint)width, gguf["clip.vision.embedding_length"]);
        Assert.Equal((uint)ff, gguf["clip.vision.feed_forward_length"]);
        Assert.Equal((uint)layers, gguf["clip.vision.block_count"]);
        Assert.Equal((uint)(int)vc["num_attention_heads"]!, gguf["clip.vision.attention.head_count"]);
        Assert.Equal((float)(double)vc["layer_norm_eps"]!, gguf["clip.vision.attention.layer_norm_epsilon"]);
        Assert.Equal(true, gguf["clip.use_gelu"]);
        Assert.Equal((uint)scale, gguf["clip.vision.projector.scale_factor"]);
        var pre = JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Fixtures, "models", fixture, "preprocessor_config.json")))!;
        Assert.Equal((uint)(int)pre["size"]!["longest_edge"]!, gguf["clip.vision.preproc_image_size"]);
        Assert.Equal(pre["image_mean"]!.AsArray().Select(v => (float)(double)v!), Floats(gguf, "clip.vision.image_mean"));
        Assert.Equal(pre["image_std"]!.AsArray().Select(v => (float)(double)v!), Floats(gguf, "clip.vision.image_std"));

        ulong e = (ulong)width, f = (ulong)ff, p = (ulong)patch, grid = (ulong)(image / patch);
        var expected = new Dictionary<string, ulong[]>
        {
            ["v.patch_embd.weight"] = [p, p, 3, e], ["v.patch_embd.bias"] = [e], ["v.position_embd.weight"] = [e, grid * grid],
            ["v.post_ln.weight"] = [e], ["v.post_ln.bias"] = [e], ["mm.model.fc.weight"] = [e * (ulong)(scale * scale), (ulong)text],
        };
        for (int i = 0; i < layers; i++)
        {
            string b = $"v.blk.{i}.";
            foreach (var part in new[] { "attn_q", "attn_k", "attn_v", "attn_out" }) { expected[b + part + ".weight"] = [e, e]; expected[b + part + ".bias"] = [e]; }
            foreach (var norm in new[] { "ln1", "ln2" }) { expected[b + norm + ".weight"] = [e]; expected[b + norm + ".bias"] = [e]; }
            expected[b + "ffn_up.weight"] = [e, f]; expected[b + "ffn_up.bias"] = [f];
            expected[b + "ffn_down.weight"] = [f, e]; expected[b + "ffn_down.bias"] = [e];
        }
        Layout(gguf, expected);
        Assert.Equal(expected.Count, summary.Tensors);

        // Values: every tensor is a Hub tensor as it is.
        const string v = "model.vision_model.";
        var hub = new Dictionary<string, string>
        {
            ["v.patch_embd.weight"] = v + "embeddings.patch_embedding.weight", ["v.patch_embd.bias"] = v + "embeddings.patch_embedding.bias",
            ["v.position_embd.weight"] = v + "embeddings.position_embedding.weight",
            ["v.post_ln.weight"] = v + "post_layernorm.weight", ["v.post_ln.bias"] = v + "post_layernorm.bias",
            ["mm.model.fc.weight"] = "model.connector.modality_projection.proj.weight",
        };
        (string Gguf, string Hub)[] parts =
        [
            ("attn_q", "self_attn.q_proj"), ("attn_k", "self_attn.k_proj"), ("attn_v", "self_attn.v_proj"), ("attn_out", "self_attn.out_proj"),
            ("ln1", "layer_norm1"), ("ln2", "layer_norm2"), ("ffn_up", "mlp.fc1"), ("ffn_down", "mlp.fc2"),
        ];
        for (int i = 0; i < layers; i++)
            foreach (var (g, h) in parts)
                foreach (var kind in new[] { "weight", "bias" }) hub[$"v.blk.{i}.{g}.{kind}"] = $"{v}encoder.layers.{i}.{h}.{kind}";
        Assert.Equal(expected.Keys.Order(), hub.Keys.Order());
        foreach (var (g, h) in hub) Assert.True(w[h].SequenceEqual(Read(gguf, g)), $"{g} is not {h}");
    }

    [Fact]
    public void Qwen3_vl_tower_exports_with_fused_qkv_and_its_deepstack_mergers()
    {
        const string fixture = "qwen3-vl-tiny";
        var (gguf, summary, w) = Export(fixture, GgufTensorType.F32);
        var config = Config(fixture);
        var vc = config["vision_config"]!;
        int width = (int)vc["hidden_size"]!, ff = (int)vc["intermediate_size"]!, depth = (int)vc["depth"]!, patch = (int)vc["patch_size"]!;
        int positions = (int)vc["num_position_embeddings"]!, text = (int)config["text_config"]!["hidden_size"]!, merged = 4 * width;
        int[] taps = vc["deepstack_visual_indexes"]!.AsArray().Select(n => (int)n!).ToArray();

        CommonKeys(gguf, "qwen3vl_merger", fixture);
        Assert.Equal((uint)text, gguf["clip.vision.projection_dim"]);
        Assert.Equal((uint)((int)Math.Sqrt(positions) * patch), gguf["clip.vision.image_size"]);   // the converter's: √positions · patch
        Assert.Equal((uint)patch, gguf["clip.vision.patch_size"]);
        Assert.Equal((uint)width, gguf["clip.vision.embedding_length"]);
        Assert.Equal((uint)ff, gguf["clip.vision.feed_forward_length"]);
        Assert.Equal((uint)depth, gguf["clip.vision.block_count"]);
        Assert.Equal(true, gguf["clip.use_gelu"]);
        Assert.Equal(2u, gguf["clip.vision.spatial_merge_size"]);
        Assert.Equal(Enumerable.Range(0, depth).Select(i => (object)taps.Contains(i)), (object[])gguf["clip.vision.is_deepstack_layers"]);
        var pre = JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Fixtures, "models", fixture, "preprocessor_config.json")))!;
        Assert.Equal(pre["image_mean"]!.AsArray().Select(v => (float)(double)v!), Floats(gguf, "clip.vision.image_mean"));

        ulong e = (ulong)width, f = (ulong)ff, p = (ulong)patch, m = (ulong)merged, d = (ulong)text;
        var expected = new Dictionary<string, ulong[]>
        {
            ["v.patch_embd.weight"] = [p, p, 3, e], ["v.patch_embd.weight.1"] = [p, p, 3, e], ["v.patch_embd.bias"] = [e],
            ["v.position_embd.weight"] = [e, (ulong)positions], ["v.post_ln.weight"] = [e], ["v.post_ln.bias"] = [e],
            ["mm.0.weight"] = [m, m], ["mm.0.bias"] = [m], ["mm.2.weight"] = [m, d], ["mm.2.bias"] = [d],
        };
        for (int i = 0; i < depth; i++)
        {
            string b = $"v.blk.{i}.";
            expected[b + "attn_qkv.weight"] = [e, 3 * e]; expected[b + "attn_qkv.bias"] = [3 * e];
            expected[b + "attn_out.weight"] = [e, e]; expected[b + "attn_out.bias"] = [e];
            foreach (var norm in new[] { "ln1", "ln2" }) { expected[b + norm + ".weight"] = [e]; expected[b + norm + ".bias"] = [e]; }
            expected[b + "ffn_up.weight"] = [e, f]; expected[b + "ffn_up.bias"] = [f];
            expected[b + "ffn_down.weight"] = [f, e]; expected[b + "ffn_down.bias"] = [e];
        }
        foreach (int tap in taps)
        {
            string b = $"v.deepstack.{tap}.";
            expected[b + "norm.weight"] = [m]; expected[b + "norm.bias"] = [m];
            expected[b + "fc1.weight"] = [m, m]; expected[b + "fc1.bias"] = [m];
            expected[b + "fc2.weight"] = [m, d]; expected[b + "fc2.bias"] = [d];
        }
        Layout(gguf, expected);
        Assert.Equal(expected.Count, summary.Tensors);

        const string v = "model.visual.";
        var conv = w[v + "patch_embed.proj.weight"];
        int plane = patch * patch;
        var frame1 = Read(gguf, "v.patch_embd.weight.1");
        for (int i = 0; i < width * 3; i++) Assert.Equal(Slice(conv, (2 * i + 1) * plane, plane), Slice(frame1, i * plane, plane));
        var hub = new Dictionary<string, string>
        {
            ["v.patch_embd.bias"] = v + "patch_embed.proj.bias", ["v.position_embd.weight"] = v + "pos_embed.weight",
            ["v.blk.1.attn_qkv.weight"] = v + "blocks.1.attn.qkv.weight", ["v.blk.1.attn_qkv.bias"] = v + "blocks.1.attn.qkv.bias",
            ["v.blk.1.ffn_up.weight"] = v + "blocks.1.mlp.linear_fc1.weight", ["v.blk.1.ffn_down.weight"] = v + "blocks.1.mlp.linear_fc2.weight",
            ["v.post_ln.weight"] = v + "merger.norm.weight", ["mm.0.weight"] = v + "merger.linear_fc1.weight", ["mm.2.bias"] = v + "merger.linear_fc2.bias",
        };
        for (int k = 0; k < taps.Length; k++)   // merger k of the list belongs to the block it taps
            foreach (var (g, h) in new[] { ("norm", "norm"), ("fc1", "linear_fc1"), ("fc2", "linear_fc2") })
                hub[$"v.deepstack.{taps[k]}.{g}.weight"] = $"{v}deepstack_merger_list.{k}.{h}.weight";
        foreach (var (g, h) in hub) Assert.True(w[h].SequenceEqual(Read(gguf, g)), $"{g} is not {h}");
    }

    [Theory]
    [InlineData("qwen2-vl-tiny", GgufTensorType.F16)]
    [InlineData("qwen2-vl-tiny", GgufTensorType.BF16)]
    [InlineData("smolvlm-tiny", GgufTensorType.F16)]
    [InlineData("qwen3-vl-tiny", GgufTensorType.BF16)]
    public void Half_precision_files_keep_the_converters_f32_tensors(string fixture, GgufTensorType type)
    {
        var (gguf, _, w) = Export(fixture, type);
        Assert.Equal(type == GgufTensorType.F16 ? 1u : 32u, gguf["general.file_type"]);
        foreach (var t in gguf.Tensors)
        {
            // Norms, biases and SigLIP's embeddings F32; the Qwen patch kernels F16 in an F16 file, else F32 (no BF16 convolution).
            uint want = t.Dims.Length == 1 || t.Name is "v.position_embd.weight" || fixture == "smolvlm-tiny" && t.Name == "v.patch_embd.weight" ? 0u
                : t.Name.StartsWith("v.patch_embd.weight") ? (type == GgufTensorType.F16 ? 1u : 0u)
                : (uint)type;
            Assert.True(want == t.Type, $"{t.Name}: ggml type {t.Type}, expected {want}");
        }
        string mm = fixture == "smolvlm-tiny" ? "mm.model.fc.weight" : "mm.2.weight";
        var hub = w[fixture switch
        {
            "smolvlm-tiny" => "model.connector.modality_projection.proj.weight",
            "qwen3-vl-tiny" => "model.visual.merger.linear_fc2.weight",
            _ => "visual.merger.mlp.2.weight",
        }];
        var stored = Read(gguf, mm);
        float worst = hub.Zip(stored).Max(x => Math.Abs(x.First - x.Second) / Math.Max(Math.Abs(x.First), 1e-3f));
        Assert.True(worst < (type == GgufTensorType.F16 ? 1e-3f : 1e-2f), $"{mm}: relative rounding error {worst}");
    }

    [Theory]
    [InlineData("vlm-tiny", "ril_vlm")]
    [InlineData("qwen3.5-tiny", "Qwen3.5")]
    public void Families_without_an_mmproj_are_refused_by_name(string fixture, string family)
    {
        var chat = TinyModels.FixtureChat(fixture);
        var path = Path.Combine(_root, "refused.gguf");
        var e = Assert.Throws<NotSupportedException>(() => MmprojExport.Write(chat.Model, chat.Processor, path, GgufTensorType.F16));
        Assert.Contains(family, e.Message);
        Assert.False(File.Exists(path));
        var text = new DecoderLM(new DecoderConfig { VocabSize = 97, HiddenSize = 32, IntermediateSize = 64, NumLayers = 1, NumHeads = 2 }, new Rng(1));
        e = Assert.Throws<NotSupportedException>(() => MmprojExport.Write(text, chat.Processor, path, GgufTensorType.F16));
        Assert.Contains("text-only", e.Message);
    }

    [Fact]
    public void A_window_pattern_llama_cpp_cannot_run_is_an_error_naming_the_field()
    {
        var dir = Path.Combine(RepoPaths.Fixtures, "models", "qwen2.5-vl-tiny");
        var json = Config("qwen2.5-vl-tiny");
        json["vision_config"]!["fullatt_block_indexes"] = new JsonArray(0, 3);
        var model = new Qwen2VlFamily().Load(dir, json, "config.json", BpeTokenizer.Load(TinyModels.TokenizerPath)).Model;
        var processor = TinyModels.FixtureChat("qwen2-vl-tiny").Processor;
        var e = Assert.Throws<NotSupportedException>(() => MmprojExport.Write(model, processor, Path.Combine(_root, "x.gguf"), GgufTensorType.F32));
        Assert.Contains("'fullatt_block_indexes'", e.Message);
        Assert.Contains("config.json", e.Message);
    }
}
