using System.Text.Json.Serialization;
using Ril.Models.Families.Llama;

namespace Ril.Models.Families.RilVlm;

/// <summary>
/// The configuration of Ril's own VLM layout: a text config (Llama/Qwen2 fields), optionally a SigLIP vision config,
/// the projector's pixel shuffle, the image placeholder token, and the pixel normalisation.
/// </summary>
public sealed record VlmConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = RilVlmFamily.ModelType;
    [JsonPropertyName("text_config")] public DecoderConfig Text { get; init; } = new();
    [JsonPropertyName("vision_config")] public VisionConfig? Vision { get; init; }
    [JsonPropertyName("pixel_shuffle")] public int PixelShuffle { get; init; } = 1;
    [JsonPropertyName("image_token_id")] public int ImageTokenId { get; init; } = -1;
    /// <summary>Per-channel mean and std applied to pixels in [0, 1] (SigLIP: 0.5 and 0.5).</summary>
    [JsonPropertyName("image_mean")] public float[] ImageMean { get; init; } = [0.5f, 0.5f, 0.5f];
    [JsonPropertyName("image_std")] public float[] ImageStd { get; init; } = [0.5f, 0.5f, 0.5f];
}
