using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ril.Models.Families.Llama;

/// <summary>A Llama/Qwen2-layout decoder, configured by the fields of a Hugging Face config.json.</summary>
public sealed record DecoderConfig
{
    /// <summary>"llama", "qwen2", "qwen3", "mistral": the text family's model types (kept when the model is saved).</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "llama";
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 32000;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 512;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 1376;
    [JsonPropertyName("num_hidden_layers")] public int NumLayers { get; init; } = 8;
    [JsonPropertyName("num_attention_heads")] public int NumHeads { get; init; } = 8;
    [JsonPropertyName("num_key_value_heads")] public int? NumKvHeadsField { get; init; }
    [JsonPropertyName("rms_norm_eps")] public float RmsNormEps { get; init; } = 1e-6f;
    [JsonPropertyName("rope_theta")] public float RopeTheta { get; init; } = 10000f;
    [JsonPropertyName("max_position_embeddings")] public int MaxPositions { get; init; } = 2048;
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
    /// <summary>Qwen2 puts biases on q/k/v; Llama does not (HF: attention_bias, or implied by model_type qwen2).</summary>
    [JsonPropertyName("attention_bias")] public bool AttentionBias { get; init; }

    /// <summary>An explicit head size (Qwen3: 128 whatever hidden_size / heads is); absent, hidden_size / heads.</summary>
    [JsonPropertyName("head_dim"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? HeadDimField { get; init; }

    [JsonIgnore] public int NumKvHeads => NumKvHeadsField ?? NumHeads;
    [JsonIgnore] public int HeadDim => HeadDimField ?? HiddenSize / NumHeads;
    /// <summary>Qwen3: an RMSNorm over each head of q and k (q_norm, k_norm) before RoPE.</summary>
    [JsonIgnore] public bool QkNorm => ModelType == "qwen3";

    public void Validate(string source)
    {
        void Require(bool ok, string field, string why) { if (!ok) throw new InvalidDataException($"{source}: field '{field}' {why}"); }
        Require(VocabSize > 0, "vocab_size", "must be positive");
        Require(NumHeads > 0, "num_attention_heads", $"({NumHeads}) must be positive");
        Require(NumKvHeads > 0, "num_key_value_heads", $"({NumKvHeads}) must be positive");
        Require(HiddenSize > 0 && (HeadDimField is not null || HiddenSize % NumHeads == 0), "hidden_size", $"({HiddenSize}) must be a positive multiple of num_attention_heads ({NumHeads})");
        Require(HeadDimField is null or > 0, "head_dim", $"({HeadDimField}) must be positive");
        Require(NumHeads % NumKvHeads == 0, "num_key_value_heads", $"({NumKvHeads}) must divide num_attention_heads ({NumHeads})");
        Require(HeadDim % 2 == 0, HeadDimField is null ? "hidden_size" : "head_dim", "must give an even head dimension for rotary embeddings");
        Require(NumLayers > 0, "num_hidden_layers", "must be positive");
        Require(IntermediateSize > 0, "intermediate_size", "must be positive");
        Require(RopeTheta > 0 && float.IsFinite(RopeTheta), "rope_theta", $"({RopeTheta}) must be a positive number");
        Require(MaxPositions > 0, "max_position_embeddings", $"({MaxPositions}) must be positive");
        Require(RmsNormEps > 0 && float.IsFinite(RmsNormEps), "rms_norm_eps", $"({RmsNormEps}) must be a positive number");
        // Sizes decide allocations: refuse a model that cannot fit before allocating it.
        double embeddings = (double)VocabSize * HiddenSize * (TieWordEmbeddings ? 1 : 2);
        double layers = NumLayers * (2.0 * HiddenSize * NumHeads * HeadDim + 2.0 * HiddenSize * NumKvHeads * HeadDim + 3.0 * HiddenSize * IntermediateSize);
        double bytes = 4 * (embeddings + layers), available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        Require(bytes <= available, embeddings > layers ? "vocab_size" : "num_hidden_layers",
            $"makes a model of {bytes / 1e9:F1} GB in float32, more than the {available / 1e9:F1} GB this machine has");
    }

    public static DecoderConfig Load(string path) => Parse(File.ReadAllText(path), path);

    /// <summary>A config from JSON text; model_type "qwen2" implies q/k/v biases unless attention_bias says otherwise.</summary>
    public static DecoderConfig Parse(string json, string source)
    {
        DecoderConfig config;
        try
        {
            config = JsonSerializer.Deserialize<DecoderConfig>(json) ?? throw new InvalidDataException($"{source}: empty config");
            using var doc = JsonDocument.Parse(json);
            if (doc.RootElement.TryGetProperty("model_type", out var mt) && mt.GetString() == "qwen2" && !doc.RootElement.TryGetProperty("attention_bias", out _))
                config = config with { AttentionBias = true };
        }
        catch (JsonException e) { throw new InvalidDataException($"{source}:{e.LineNumber + 1}: {e.Message}", e); }
        config.Validate(source);
        return config;
    }
}
