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

    // Qwen3.5's hybrid decoder (docs/spec/QWEN3_5.md "Config"); absent (null) for every other decoder.
    /// <summary>"linear_attention" (Gated DeltaNet) or "full_attention" per layer; null: every layer is full attention.</summary>
    [JsonPropertyName("layer_types"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string[]? LayerTypes { get; init; }
    [JsonPropertyName("linear_num_key_heads"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? LinearKeyHeads { get; init; }
    [JsonPropertyName("linear_num_value_heads"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? LinearValueHeads { get; init; }
    [JsonPropertyName("linear_key_head_dim"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? LinearKeyDim { get; init; }
    [JsonPropertyName("linear_value_head_dim"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? LinearValueDim { get; init; }
    [JsonPropertyName("linear_conv_kernel_dim"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? LinearConvKernel { get; init; }
    /// <summary>The rotated fraction of each head (Qwen3.5: 0.25, the first quarter of the dims); null: all of it.</summary>
    [JsonPropertyName("partial_rotary_factor"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public float? PartialRotaryFactor { get; init; }

    [JsonIgnore] public int NumKvHeads => NumKvHeadsField ?? NumHeads;
    [JsonIgnore] public int HeadDim => HeadDimField ?? HiddenSize / NumHeads;
    /// <summary>Qwen3 and Qwen3.5: an RMSNorm over each head of q and k (q_norm, k_norm) before RoPE.</summary>
    [JsonIgnore] public bool QkNorm => ModelType is "qwen3" or Qwen35Text;
    /// <summary>Qwen3.5's text model type: zero-centred norms (1 + w), the attention output gate, Gated DeltaNet layers.</summary>
    public const string Qwen35Text = "qwen3_5_text";
    /// <summary>Qwen3.5: every RMSNorm but the Gated DeltaNet's output norm scales by 1 + w (weights stored around 0).</summary>
    [JsonIgnore] public bool ZeroCentredNorms => ModelType == Qwen35Text;
    /// <summary>Qwen3.5: q_proj also gives a per-dim gate, sigmoid(gate) ⊙ attention output before o_proj.</summary>
    [JsonIgnore] public bool AttentionOutputGate => ModelType == Qwen35Text;
    /// <summary>Dims of each head that RoPE rotates (the first ones); the rest pass through.</summary>
    [JsonIgnore] public int RotaryDim => PartialRotaryFactor is { } f ? (int)(HeadDim * f) : HeadDim;
    /// <summary>Whether layer <paramref name="layer"/> is a Gated DeltaNet (linear attention) layer.</summary>
    public bool IsLinearAttention(int layer) => LayerTypes is { } types && types[layer] == "linear_attention";

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
        Require(RotaryDim > 0 && RotaryDim % 2 == 0 && RotaryDim <= HeadDim, "partial_rotary_factor", $"({PartialRotaryFactor}) must rotate an even number of head dims, at most head_dim");
        if (LayerTypes is { } types)
        {
            Require(types.Length == NumLayers, "layer_types", $"has {types.Length} entries for {NumLayers} layers");
            var odd = types.FirstOrDefault(t => t is not ("linear_attention" or "full_attention"));
            Require(odd is null, "layer_types", $"entry '{odd}' is neither linear_attention nor full_attention");
            if (types.Contains("linear_attention"))
            {
                foreach (var (field, value) in new[] { ("linear_num_key_heads", LinearKeyHeads), ("linear_num_value_heads", LinearValueHeads),
                                                       ("linear_key_head_dim", LinearKeyDim), ("linear_value_head_dim", LinearValueDim), ("linear_conv_kernel_dim", LinearConvKernel) })
                    Require(value is > 0, field, $"({value?.ToString() ?? "missing"}) must be positive for linear_attention layers");
                Require(LinearValueHeads % LinearKeyHeads == 0, "linear_num_value_heads", $"({LinearValueHeads}) must be a multiple of linear_num_key_heads ({LinearKeyHeads})");
            }
        }
        // Sizes decide allocations: refuse a model that cannot fit before allocating it.
        double embeddings = (double)VocabSize * HiddenSize * (TieWordEmbeddings ? 1 : 2);
        double layers = NumLayers * (2.0 * HiddenSize * NumHeads * HeadDim + 2.0 * HiddenSize * NumKvHeads * HeadDim + 3.0 * HiddenSize * IntermediateSize);
        if (LayerTypes is { } kinds && kinds.Contains("linear_attention"))   // q, k, v, z, b, a in and out of each Gated DeltaNet
            layers += kinds.Count(k => k == "linear_attention") * (double)HiddenSize
                * (2.0 * LinearKeyHeads!.Value * LinearKeyDim!.Value + 3.0 * LinearValueHeads!.Value * LinearValueDim!.Value + 2.0 * LinearValueHeads.Value);
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
