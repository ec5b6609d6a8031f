using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Ril.Data.Images;
using Ril.Tensors;

namespace Ril.Models;

/// <summary>
/// The configuration of a Ril model directory: a text config (Llama/Qwen2 fields), optionally a SigLIP vision config,
/// the projector's pixel shuffle, the image placeholder token, and the pixel normalisation.
/// </summary>
public sealed record VlmConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "ril_vlm";
    [JsonPropertyName("text_config")] public DecoderConfig Text { get; init; } = new();
    [JsonPropertyName("vision_config")] public VisionConfig? Vision { get; init; }
    [JsonPropertyName("pixel_shuffle")] public int PixelShuffle { get; init; } = 1;
    [JsonPropertyName("image_token_id")] public int ImageTokenId { get; init; } = -1;
    /// <summary>Per-channel mean and std applied to pixels in [0, 1] (SigLIP: 0.5 and 0.5).</summary>
    [JsonPropertyName("image_mean")] public float[] ImageMean { get; init; } = [0.5f, 0.5f, 0.5f];
    [JsonPropertyName("image_std")] public float[] ImageStd { get; init; } = [0.5f, 0.5f, 0.5f];
}

/// <summary>
/// Loads and saves model directories: Ril's own (config.json with text_config/vision_config) and plain Hugging Face
/// Llama/Qwen2 text models (config.json of the LM itself), each with model.safetensors or sharded weights.
/// </summary>
public static class ModelDirectory
{
    public static (VisionLanguageModel Model, VlmConfig Config) Load(string dir)
    {
        var configPath = Path.Combine(dir, "config.json");
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{dir}: no config.json (is this a model directory?)");
        VlmConfig config;
        try
        {
            var node = JsonNode.Parse(File.ReadAllText(configPath)) as JsonObject ?? throw new InvalidDataException($"{configPath}: not a JSON object");
            config = node.ContainsKey("text_config")
                ? (node.Deserialize<VlmConfig>() ?? throw new InvalidDataException($"{configPath}: empty"))
                    with { Text = DecoderConfig.Parse(node["text_config"]!.ToJsonString(), $"{configPath} (text_config)") }
                : new VlmConfig { Text = DecoderConfig.Load(configPath) };
        }
        catch (JsonException e) { throw new InvalidDataException($"{configPath}:{e.LineNumber + 1}: {e.Message}", e); }
        config.Text.Validate($"{configPath} (text_config)");
        config.Vision?.Validate($"{configPath} (vision_config)");
        var model = VisionLanguageModel.Create(config.Text, config.Vision, config.PixelShuffle, config.ImageTokenId, new Rng(0));
        var unused = Checkpoint.LoadInto(model.Parameters(), Checkpoint.ReadTensors(dir), dir)
            .Where(name => !name.EndsWith("rotary_emb.inv_freq")).ToList();   // a buffer some exports include; Ril recomputes it
        if (unused.Count > 0)
            throw new InvalidDataException($"{dir}: {unused.Count} tensors fit no parameter of the configured model (first: '{unused[0]}'); does config.json match the weights?");
        return (model, config);
    }

    public static void Save(string dir, VisionLanguageModel model, VlmConfig config) =>
        Checkpoint.Save(dir, JsonSerializer.SerializeToNode(config)!, model.Parameters());

    /// <summary>An image file as model input [1, 3, S, S]: RGB, letterboxed to the vision tower's size, normalised.</summary>
    public static Tensor LoadPixels(string imagePath, VlmConfig config)
    {
        if (config.Vision is null) throw new InvalidOperationException("this model has no vision tower: it cannot take an image");
        return PixelsFromImage(ImageFile.Load(imagePath), config);
    }

    /// <summary>A decoded image as model input [1, 3, S, S]: RGB, letterboxed to the vision tower's size, normalised.</summary>
    public static Tensor PixelsFromImage(Image image, VlmConfig config)
    {
        if (config.Vision is null) throw new InvalidOperationException("this model has no vision tower: it cannot take an image");
        var square = ImageOps.Letterbox(image.ToRgb(), config.Vision.ImageSize);
        var pixels = ImageOps.Normalise(square, config.ImageMean, config.ImageStd);
        return Tensor.FromArray(pixels.Data, 1, pixels.Channels, pixels.Height, pixels.Width);
    }
}
