using System.Text.Json.Nodes;
using Ril.Data.Images;
using Ril.Models;
using Ril.Models.Families.Qwen2Vl;
using Ril.Tensors;
using Ril.Tensors.Autograd;
using Ril.Tensors.IO;
using Ril.Tests.Data;
using Ril.Text;

namespace Ril.Tests.Models;

/// <summary>
/// Qwen2-VL and Qwen2.5-VL against tests/fixtures/make_qwen2vl_fixtures.py, an independent float64 PyTorch reference
/// (docs/spec/QWEN2_VL.md): the processor's patches, grids and expanded prompt ids exactly; M-RoPE positions exactly;
/// image features and logits within 2e-4 relative (|a − b| / max(|b|, 0.01·max|b|), as ModelParityTests).
/// </summary>
public sealed class Qwen2VlTests
{
    // float32 against float64, worst element (|a − b| / max(|b|, 0.01·max|b|)): qwen2.5-vl-tiny's logits sit at 0.9–1.3e-4
    // depending only on the order of the softmax's float32 operations (96f586a), the other fixtures at 1.4–7.4e-5.
    const double Tolerance = 2e-4;
    static string Dir(string name) => Path.Combine(RepoPaths.Fixtures, "models", name);
    static string ProcessorDir => Path.Combine(Dir("qwen2-vl-tiny"), "processor");
    static BpeTokenizer QwenTokenizer => BpeTokenizer.Load(Path.Combine(RepoPaths.Fixtures, "tokenizer", "qwen3", "tokenizer.json"));
    static int[] Ints(SafeTensorEntry e) => e.Data.Select(v => (int)MathF.Round(v)).ToArray();
    static readonly string[] ImageFiles = ["wide.png", "tall.png", "tiny.png"];


    /// <summary>A fixture's model through the registry (the fixtures' ids are a tiny vocabulary: any tokenizer will do).</summary>
    static ICausalLM LoadModel(string dir)
    {
        var json = ModelFamilies.ReadConfig(dir, out var path);
        return ModelFamilies.Of(json, path).Load(dir, json, path, BpeTokenizer.Load(TinyModels.TokenizerPath)).Model;
    }

    static Qwen2VlProcessor Processor() => new(QwenTokenizer, Qwen2VlImageProcessor.Load(ProcessorDir), 151655);

    [Theory]
    [InlineData(150, 200, 3136, 12845056, 140, 196)]
    [InlineData(70, 98, 3136, 12845056, 56, 112)]      // 2.5 → 2 and 3.5 → 4: half to even
    [InlineData(20, 30, 3136, 12845056, 56, 84)]       // below min_pixels
    [InlineData(3000, 4000, 3136, 12845056, 2996, 4004)]
    [InlineData(3000, 4000, 3136, 1003520, 840, 1148)]
    [InlineData(4000, 5000, 3136, 12845056, 3192, 4004)]
    public void Smart_resize_matches_the_worked_examples(int h, int w, int min, int max, int eh, int ew) =>
        Assert.Equal((eh, ew), new Qwen2VlImageProcessor { MinPixels = min, MaxPixels = max }.SmartResize(h, w));

    [Fact]
    public void Preprocessor_config_sets_the_pixel_bounds_and_defaults_are_the_class_defaults()
    {
        Assert.Equal(12845056, Qwen2VlImageProcessor.Load(ProcessorDir).MaxPixels);
        Assert.Equal(1003520, Qwen2VlImageProcessor.Load(Dir("qwen2-vl-tiny")).MaxPixels);
    }

    [Fact]
    public void Pixel_values_and_grids_equal_the_reference_for_non_square_and_small_images()
    {
        var expected = SafeTensors.Read(Path.Combine(ProcessorDir, "processor.safetensors"));
        var processor = Processor();
        for (int k = 0; k < ImageFiles.Length; k++)
        {
            var pixels = processor.Pixels([ImageFile.Load(Path.Combine(ProcessorDir, ImageFiles[k]))])!;
            Assert.Equal(Ints(expected[$"image_grid_thw_{k}"]), pixels.Grids.Single());
            Assert.Equal(expected[$"pixel_values_{k}"].Shape, pixels.Values.Shape);
            Assert.Equal(expected[$"pixel_values_{k}"].Data, pixels.Values.ToArray());   // exact: same bytes after resize, same float math
        }
    }

    [Fact]
    public void Two_images_concatenate_their_patches_and_grids_in_order()
    {
        var expected = SafeTensors.Read(Path.Combine(ProcessorDir, "processor.safetensors"));
        var images = ImageFiles[..2].Select(f => ImageFile.Load(Path.Combine(ProcessorDir, f))).ToList();
        var pixels = Processor().Pixels(images)!;
        Assert.Equal([.. expected["pixel_values_0"].Data, .. expected["pixel_values_1"].Data], pixels.Values.ToArray());
        Assert.Equal([Ints(expected["image_grid_thw_0"]), Ints(expected["image_grid_thw_1"])], pixels.Grids);
    }

    [Fact]
    public void The_chat_prompt_expands_each_image_to_its_merged_tokens()
    {
        var expected = SafeTensors.Read(Path.Combine(ProcessorDir, "processor.safetensors"));
        var processor = Processor();
        var images = ImageFiles[..2].Select(f => ImageFile.Load(Path.Combine(ProcessorDir, f))).ToList();
        var one = processor.ExpandImages(processor.EncodeChat([ChatMessage.User("Describe this image.", images: 1)]), images[..1]);
        Assert.Equal(Ints(expected["input_ids_one"]), one);
        Assert.Equal(60, one.Length);                                                      // the spec's example: 35 placeholders
        var two = processor.ExpandImages(processor.EncodeChat([ChatMessage.User("Describe this image.", images: 2)]), images);
        Assert.Equal(Ints(expected["input_ids_two"]), two);
        Assert.Equal(two, processor.ExpandImages(two, images));                            // already expanded: unchanged
        Assert.Equal(processor.PlaceholdersFor(images), two.Count(id => id == 151655));
        processor.Check();
    }

    [Fact]
    public void A_questions_prompt_and_a_request_size_the_placeholders_to_the_image()
    {
        var chat = ChatModel.Load(Dir("qwen2-vl-tiny"));                      // its tokenizer.json: the trained test tokenizer
        var image = ImageFile.Load(Path.Combine(ProcessorDir, "wide.png"));   // 200 × 150 → grid [1, 10, 14]
        var (prompt, pixels) = chat.Prompt("How many?", image);                // what DataFlow and Evaluator build
        Assert.Equal(35, prompt.Count(id => id == chat.Model.ImageTokenId));
        Assert.Equal([1, 10, 14], pixels!.Grids.Single());
        Assert.Equal(prompt, chat.Request(chat.Prompt("How many?", hasImage: true), [image]).PromptIds);
        var e = Assert.Throws<ArgumentException>(() => chat.Request(chat.Prompt("How many?", hasImage: true), [image, image]));
        Assert.Contains("placeholder", e.Message);
    }

    [Theory]
    [InlineData("qwen2-vl-tiny")]
    [InlineData("qwen2.5-vl-tiny")]
    public void Positions_features_and_logits_equal_the_float64_reference(string name)
    {
        var model = Assert.IsType<Qwen2VlModel>(LoadModel(Dir(name)));
        var parity = SafeTensors.Read(Path.Combine(Dir(name), "parity.safetensors"));
        var ids = Ints(parity["input_ids"]);
        var pixels = new PixelInputs(Tensor.FromArray(parity["pixel_values"].Data, parity["pixel_values"].Shape),
            Ints(parity["image_grid_thw"]).Chunk(3).ToList());
        Assert.Equal(Ints(parity["position_ids"]), model.SequencePositions(ids, pixels));
        using var _ = NoGrad.Begin();
        double features = ParityMetric.WorstRelative(model.Vision.Forward(pixels).ToArray(), parity["image_features"].Data);
        Assert.True(features <= Tolerance, $"{name}: image features, worst relative error {features:E2}");
        var inputs = new ModelInputs.Builder(model, 1, ids.Length, 0).Place(0, ids, ids.Length, pixels).Build();
        double logits = ParityMetric.WorstRelative(model.Head(model.Hidden(inputs)).ToArray(), parity["logits"].Data);
        Assert.True(logits <= Tolerance, $"{name}: logits, worst relative error {logits:E2}");
    }

    [Fact]
    public void The_transformers_4_52_name_layout_loads_the_same_weights()
    {
        var source = Dir("qwen2.5-vl-tiny");
        var dir = Directory.CreateTempSubdirectory("ril-qwen25vl-").FullName;
        try
        {
            File.Copy(Path.Combine(source, "config.json"), Path.Combine(dir, "config.json"));
            static string Renamed(string n) => n.StartsWith("visual.") ? "model." + n : n.StartsWith("model.") ? "model.language_model." + n["model.".Length..] : n;
            var renamed = Checkpoint.ReadTensors(source).Values.Select(t => t with { Name = Renamed(t.Name) }).ToList();
            Assert.Contains(renamed, t => t.Name == "model.visual.merger.mlp.0.weight");
            SafeTensors.Write(Path.Combine(dir, "model.safetensors"), renamed, new Dictionary<string, string> { ["format"] = "pt" });
            var hub = LoadModel(source).Parameters().ToDictionary(p => p.Name!, p => p.ToArray());
            foreach (var p in LoadModel(dir).Parameters()) Assert.Equal(hub[p.Name!], p.ToArray());
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData("vision_config", "embed_dim")]                  // Qwen2-VL's vision width
    [InlineData(null, "rope_scaling")]
    [InlineData(null, "num_key_value_heads")]
    public void A_missing_config_field_is_named_with_the_file(string? parent, string field)
    {
        var json = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(Dir("qwen2-vl-tiny"), "config.json")))!;
        (parent is null ? json : (JsonObject)json[parent]!).Remove(field);
        var e = Assert.Throws<InvalidDataException>(() => Qwen2VlConfig.Parse(json, "some/config.json"));
        Assert.Contains("some/config.json", e.Message);
        Assert.Contains(field, e.Message);
    }

    [Fact]
    public void A_wrong_mrope_section_is_named()
    {
        var json = (JsonObject)JsonNode.Parse(File.ReadAllText(Path.Combine(Dir("qwen2-vl-tiny"), "config.json")))!;
        json["rope_scaling"]!["mrope_section"] = new JsonArray(2, 3, 4);
        var e = Assert.Throws<InvalidDataException>(() => Qwen2VlConfig.Parse(json, "some/config.json"));
        Assert.Contains("mrope_section", e.Message);
    }

    [Fact]
    public void Text_resumes_after_an_image_at_its_start_plus_the_larger_side()
    {
        var model = (Qwen2VlModel)LoadModel(Dir("qwen2-vl-tiny"));
        int s = model.Config.VisionStartTokenId, pad = model.ImageTokenId, e = model.Config.VisionEndTokenId;
        int[] ids = [5, s, .. Enumerable.Repeat(pad, 2 * 4), e, 7];      // grid [1, 4, 8] → 2 × 4 merged tokens
        var positions = model.SequencePositions(ids, new PixelInputs(Tensor.Zeros(32, 1176), [[1, 4, 8]]));
        int n = ids.Length;
        Assert.Equal([0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 6, 7], positions[..n]);                 // t
        Assert.Equal([0, 1, 2, 2, 2, 2, 3, 3, 3, 3, 6, 7], positions[n..(2 * n)]);          // h
        Assert.Equal([0, 1, 2, 3, 4, 5, 2, 3, 4, 5, 6, 7], positions[(2 * n)..]);           // w
    }
}
