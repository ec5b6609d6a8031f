using System.Text.Json.Nodes;
using Ril.Data.Images;
using Ril.Models;
using Ril.Models.Families.Qwen2Vl;
using Ril.Models.Families.Qwen3Vl;
using Ril.Tensors;
using Ril.Tensors.Autograd;
using Ril.Tensors.IO;
using Ril.Tests.Data;
using Ril.Text;

namespace Ril.Tests.Models;

/// <summary>
/// Qwen3-VL against tests/fixtures/make_qwen3vl_fixtures.py, an independent float64 PyTorch reference
/// (docs/spec/QWEN3_VL.md): the processor's patches, grids and chat prompt exactly; M-RoPE positions exactly; image
/// features, DeepStack features and logits within 1e-4 relative — and the reference's logits with DeepStack, the
/// interleaving or the position table's resampling switched off all lie far outside that tolerance, so a model that
/// dropped any of them would fail.
/// </summary>
public sealed class Qwen3VlTests
{
    const double Tolerance = 1e-4;
    static string Dir => Path.Combine(RepoPaths.Fixtures, "models", "qwen3-vl-tiny");
    static int[] Ints(SafeTensorEntry e) => e.Data.Select(v => (int)MathF.Round(v)).ToArray();
    static SafeTensorFile Parity => SafeTensors.Read(Path.Combine(Dir, "parity.safetensors"));

    static Qwen3VlModel LoadModel(string dir)
    {
        var json = ModelFamilies.ReadConfig(dir, out var path);
        return Assert.IsType<Qwen3VlModel>(ModelFamilies.Of(json, path).Load(dir, json, path, BpeTokenizer.Load(TinyModels.TokenizerPath)).Model);
    }

    static PixelInputs ParityPixels(SafeTensorFile parity) =>
        new(Tensor.FromArray(parity["pixel_values"].Data, parity["pixel_values"].Shape), Ints(parity["image_grid_thw"]).Chunk(3).ToList());

    static JsonObject Config() => (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(Dir, "config.json")))!;

    [Theory]                                                   // docs/spec/QWEN3_VL.md §4.3, released bounds 65536 / 16777216
    [InlineData(150, 200, 224, 320)]
    [InlineData(50, 90, 192, 352)]
    [InlineData(720, 1280, 704, 1280)]                         // 22.5 → 22: half to even
    [InlineData(300, 300, 288, 288)]
    [InlineData(256, 256, 256, 256)]
    [InlineData(1080, 1920, 1088, 1920)]
    [InlineData(3000, 4000, 3008, 4000)]
    [InlineData(4000, 5000, 3648, 4576)]
    [InlineData(20, 30, 224, 320)]
    public void Smart_resize_with_factor_32_matches_the_worked_examples(int h, int w, int eh, int ew) =>
        Assert.Equal((eh, ew), Qwen2VlImageProcessor.Qwen3VlDefaults.SmartResize(h, w));

    [Fact]
    public void The_specs_self_check_image_gives_its_patches_with_the_released_settings()
    {
        var image = new Image(90, 50, 3);                      // pixel (x, y) = (3x mod 256, 5y mod 256, x·y mod 256)
        for (int y = 0; y < 50; y++)
            for (int x = 0; x < 90; x++) { image[x, y, 0] = (byte)(3 * x % 256); image[x, y, 1] = (byte)(5 * y % 256); image[x, y, 2] = (byte)(x * y % 256); }
        var (values, grid) = Qwen2VlImageProcessor.Qwen3VlDefaults.Preprocess(image);
        Assert.Equal([1, 12, 22], grid);
        Assert.Equal(264 * 1536, values.Length);
        Assert.Equal(-21002.8331, values.Sum(v => (double)v), 2);
        Assert.Equal(-0.647059f, values[7 * 1536 + 300], 5);
        Assert.Equal(-0.545098f, values[60 * 1536 + 1000], 5);
        Assert.Equal(-0.176471f, values[131 * 1536 + 555], 5);
    }

    [Fact]
    public void Size_entries_are_pixel_counts_and_a_folder_without_the_file_gets_qwen3_vls_settings()
    {
        var fixture = Qwen2VlImageProcessor.Load(Dir, Qwen2VlImageProcessor.Qwen3VlDefaults);
        Assert.Equal((4096, 32768, 16, 32), (fixture.MinPixels, fixture.MaxPixels, fixture.PatchSize, fixture.Factor));
        Assert.Equal([0.5f, 0.5f, 0.5f], fixture.Mean);
        var bare = Directory.CreateTempSubdirectory("ril-qwen3vl-").FullName;
        try { Assert.Equal(Qwen2VlImageProcessor.Qwen3VlDefaults, Qwen2VlImageProcessor.Load(bare, Qwen2VlImageProcessor.Qwen3VlDefaults)); }
        finally { Directory.Delete(bare); }
    }

    [Fact]
    public void The_processor_gives_the_references_pixel_values_and_grids_for_two_non_square_images()
    {
        var parity = Parity;
        var chat = ChatModel.Load(Dir);
        var images = new[] { "wide.png", "small.png" }.Select(f => ImageFile.Load(Path.Combine(Dir, f))).ToList();
        var pixels = chat.Processor.Pixels(images)!;
        Assert.Equal(Ints(parity["image_grid_thw"]).Chunk(3).ToList(), pixels.Grids);          // [1, 10, 12], [1, 4, 6]; the table is 5 × 5
        Assert.Equal(parity["pixel_values"].Shape, pixels.Values.Shape);
        Assert.Equal(parity["pixel_values"].Data, pixels.Values.ToArray());                    // exact
    }

    [Fact]
    public void The_checkpoints_chat_template_gives_the_references_prompt_without_a_system_turn()
    {
        var expected = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(Dir, "cli_generate.json")))!;
        var chat = ChatModel.Load(Dir);
        var image = ImageFile.Load(Path.Combine(Dir, (string)expected["image"]!));
        var (prompt, pixels) = chat.Prompt((string)expected["prompt"]!, image);
        Assert.Equal(expected["prompt_ids"]!.AsArray().Select(n => (int)n!).ToArray(), prompt);
        Assert.Equal([1, 10, 12], pixels!.Grids.Single());
        Assert.Equal("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Hi<|im_end|>\n<|im_start|>assistant\n",
            chat.Processor.Render([ChatMessage.User("Hi", images: 1)]));
    }

    [Fact]
    public void Positions_features_deepstack_and_logits_equal_the_float64_reference()
    {
        var model = LoadModel(Dir);
        var parity = Parity;
        var ids = Ints(parity["input_ids"]);
        var pixels = ParityPixels(parity);
        Assert.Equal(Ints(parity["position_ids"]), model.SequencePositions(ids, pixels));
        using var _ = NoGrad.Begin();
        var (features, deepstack) = model.Vision.Forward(pixels);
        double worst = ParityMetric.WorstRelative(features.ToArray(), parity["image_features"].Data);
        Assert.True(worst <= Tolerance, $"image features, worst relative error {worst:E2}");
        Assert.Equal(3, deepstack.Length);
        worst = ParityMetric.WorstRelative(deepstack.SelectMany(d => d.ToArray()).ToArray(), parity["deepstack_features"].Data);
        Assert.True(worst <= Tolerance, $"DeepStack features, worst relative error {worst:E2}");
        var inputs = new ModelInputs.Builder(model, 1, ids.Length, 0).Place(0, ids, ids.Length, pixels).Build();
        worst = ParityMetric.WorstRelative(model.Head(model.Hidden(inputs)).ToArray(), parity["logits"].Data);
        Assert.True(worst <= Tolerance, $"logits, worst relative error {worst:E2}");
    }

    [Theory]
    [InlineData("logits_no_deepstack")]
    [InlineData("logits_contiguous_mrope")]
    [InlineData("logits_no_position_table")]
    [InlineData("logits_position_table_raster")]
    public void Each_piece_matters_a_model_without_it_would_fail_the_parity_test(string ablated)
    {
        var parity = Parity;
        double distance = ParityMetric.WorstRelative(parity[ablated].Data, parity["logits"].Data);
        Assert.True(distance > 100 * Tolerance, $"{ablated}: the reference without this piece is only {distance:E2} from the full one");
    }

    [Fact]
    public void Interleaved_mrope_reads_thw_twenty_times_then_t_for_the_released_sections()
    {
        var planes = MultimodalRope.InterleavedPlanes([24, 20, 20]);
        Assert.Equal(string.Concat(Enumerable.Repeat("thw", 20)) + "tttt", string.Concat(planes.Select(p => "thw"[p])));
        Assert.Equal([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0], MultimodalRope.InterleavedPlanes([6, 5, 5]));
    }

    [Fact]
    public void Weights_load_as_released_and_from_the_flat_layout_alike()
    {
        var released = LoadModel(Dir);
        var names = released.Parameters().Select(p => p.Name!).ToList();
        Assert.Contains("model.visual.deepstack_merger_list.2.norm.weight", names);
        Assert.Contains("model.language_model.layers.0.self_attn.q_norm.weight", names);
        Assert.DoesNotContain("lm_head.weight", names);                                        // tied
        Assert.Equal([128, 64], released.Text.Layers[0].QProj!.Shape);                         // head_dim 32 × 4 heads ≠ hidden 64
        var dir = Directory.CreateTempSubdirectory("ril-qwen3vl-").FullName;
        try
        {
            File.Copy(Path.Combine(Dir, "config.json"), Path.Combine(dir, "config.json"));
            static string Flat(string n) => n.StartsWith("model.visual.") ? n["model.".Length..] : n.Replace("model.language_model.", "model.");
            var flat = Checkpoint.ReadTensors(Dir).Values.Select(t => t with { Name = Flat(t.Name) }).ToList();
            Assert.Contains(flat, t => t.Name == "visual.pos_embed.weight");
            SafeTensors.Write(Path.Combine(dir, "model.safetensors"), flat, new Dictionary<string, string> { ["format"] = "pt" });
            var expected = released.Parameters().ToDictionary(p => p.Name!, p => p.ToArray());
            foreach (var p in LoadModel(dir).Parameters()) Assert.Equal(expected[p.Name!], p.ToArray());
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData("text_config", "head_dim", null)]
    [InlineData("vision_config", "num_position_embeddings", null)]
    [InlineData("vision_config", "num_position_embeddings", "24")]
    [InlineData("vision_config", "deepstack_visual_indexes", "[0, 4]")]
    [InlineData("vision_config", "deepstack_visual_indexes", null)]
    [InlineData("text_config", "tie_word_embeddings", "false")]                        // the top-level copy says true
    [InlineData("vision_config", "out_hidden_size", "32")]
    [InlineData("text_config", "attention_bias", "true")]
    [InlineData("text_config", "rope_scaling", null)]
    public void A_missing_or_wrong_config_field_is_named_with_the_file(string parent, string field, string? value)
    {
        var json = Config();
        var node = (JsonObject)json[parent]!;
        if (value is null) node.Remove(field); else node[field] = JsonNode.Parse(value);
        var e = Assert.Throws<InvalidDataException>(() => Qwen3VlConfig.Parse(json, "some/config.json"));
        Assert.Contains("some/config.json", e.Message);
        Assert.Contains(field, e.Message);
    }

    [Fact]
    public void Mrope_interleaved_false_is_refused_and_rope_parameters_are_read_like_rope_scaling()
    {
        var json = Config();
        json["text_config"]!["rope_scaling"]!["mrope_interleaved"] = false;
        Assert.Contains("mrope_interleaved", Assert.Throws<InvalidDataException>(() => Qwen3VlConfig.Parse(json, "c.json")).Message);
        json = Config();
        var text = (JsonObject)json["text_config"]!;
        var rope = (JsonObject)text["rope_scaling"]!.DeepClone();
        rope["rope_theta"] = 123456.0;
        text.Remove("rope_scaling");
        text.Remove("rope_theta");
        text["rope_parameters"] = rope;                                                        // transformers v5 re-saves
        var parsed = Qwen3VlConfig.Parse(json, "c.json");
        Assert.Equal(123456f, parsed.Text.RopeTheta);
        Assert.Equal([6, 5, 5], parsed.MropeSection);
        Assert.Equal(32, parsed.Text.HeadDim);
        Assert.Equal(5, parsed.PositionTableSide);
    }

    [Fact]
    public void On_text_the_decoder_alone_is_the_model_and_saves_as_a_qwen3_text_model()
    {
        var model = LoadModel(Dir);
        var text = model.LanguageModel(shareWeights: false, new Rng(1));                      // RIL's discriminator starts from this copy
        int[] ids = [5, 17, 3, 9, 42, 7];
        using var _ = NoGrad.Begin();
        Tensor Logits(ICausalLM m) => m.Head(m.Hidden(new ModelInputs.Builder(m, 1, ids.Length, 0).Place(0, ids, ids.Length, null).Build()));
        double worst = ParityMetric.WorstRelative(Logits(text).ToArray(), Logits(model).ToArray());
        Assert.True(worst <= Tolerance, $"text-only logits of the decoder copy differ by {worst:E2}");   // 1-D RoPE vs the float32 M-RoPE tables: rounding only
        var json = text.ConfigJson();
        Assert.Equal("qwen3", (string)json["model_type"]!);
        var reparsed = Ril.Models.Families.Llama.DecoderConfig.Parse(json.ToJsonString(), "copy/config.json");
        Assert.Equal((32, true), (reparsed.HeadDim, reparsed.QkNorm));
        Assert.Contains(ModelFamilies.Of(json, "copy/config.json").ModelTypes, t => t == "qwen3");
    }
}
