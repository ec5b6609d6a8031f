using System.Text.Json.Serialization;

namespace Ril.Models.Families.RilVlm;

/// <summary>A SigLIP-layout vision encoder, configured by the fields of Hugging Face's SiglipVisionConfig.</summary>
public sealed record VisionConfig
{
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 768;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 3072;
    [JsonPropertyName("num_hidden_layers")] public int NumLayers { get; init; } = 12;
    [JsonPropertyName("num_attention_heads")] public int NumHeads { get; init; } = 12;
    [JsonPropertyName("num_channels")] public int NumChannels { get; init; } = 3;
    [JsonPropertyName("image_size")] public int ImageSize { get; init; } = 224;
    [JsonPropertyName("patch_size")] public int PatchSize { get; init; } = 16;
    [JsonPropertyName("layer_norm_eps")] public float LayerNormEps { get; init; } = 1e-6f;
    /// <summary>"gelu_pytorch_tanh" (SigLIP) or "gelu" (exact).</summary>
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "gelu_pytorch_tanh";

    [JsonIgnore] public int GridSize => ImageSize / PatchSize;
    [JsonIgnore] public int NumPatches => GridSize * GridSize;
    [JsonIgnore] public int HeadDim => HiddenSize / NumHeads;
    [JsonIgnore] public int PatchDim => NumChannels * PatchSize * PatchSize;

    public void Validate(string source)
    {
        void Require(bool ok, string field, string why) { if (!ok) throw new InvalidDataException($"{source}: field '{field}' {why}"); }
        Require(NumHeads > 0, "num_attention_heads", $"({NumHeads}) must be positive");
        Require(ImageSize > 0, "image_size", $"({ImageSize}) must be positive");
        Require(LayerNormEps > 0 && float.IsFinite(LayerNormEps), "layer_norm_eps", $"({LayerNormEps}) must be a positive number");
        Require(HiddenSize > 0 && HiddenSize % NumHeads == 0, "hidden_size", $"({HiddenSize}) must be a positive multiple of num_attention_heads ({NumHeads})");
        Require(PatchSize > 0 && ImageSize % PatchSize == 0, "image_size", $"({ImageSize}) must be a multiple of patch_size ({PatchSize})");
        Require(HiddenAct is "gelu_pytorch_tanh" or "gelu", "hidden_act", $"'{HiddenAct}' is not supported (gelu_pytorch_tanh, gelu)");
        Require(NumLayers > 0, "num_hidden_layers", "must be positive");
    }
}
