using System.Text.Json.Nodes;
using Ril.Models.Families.Llama;
using Ril.Models.Families.RilVlm;

namespace Ril.Models.Families.SmolVlm;

/// <summary>
/// config.json of an Idefics3 / SmolVLM / SmolVLM2 checkpoint (docs/spec/SMOLVLM.md, "config.json"): a SigLIP vision
/// config, a Llama text config, the connector's shuffle factor and the image placeholder. Keys a file leaves out take
/// transformers' class defaults (SmolVLM2 configs were saved as a diff against them).
/// </summary>
public sealed record SmolVlmConfig(DecoderConfig Text, VisionConfig Vision, int ScaleFactor, int ImageTokenId, bool TieWordEmbeddings, JsonObject Json)
{
    /// <summary>Image features per tile: the patch grid shrunk by the pixel shuffle, (image_size/patch_size)² / s².</summary>
    public int ImageSeqLen => Vision.GridSize / ScaleFactor * (Vision.GridSize / ScaleFactor);

    /// <summary>The config of <paramref name="json"/>; errors name <paramref name="path"/> and the field.</summary>
    public static SmolVlmConfig Parse(JsonObject json, string path)
    {
        var reader = new ConfigReader(path);
        var visionJson = reader.Object(json, "vision_config");
        var textJson = reader.Object(json, "text_config");
        // Idefics3VisionConfig's / SmolVLMVisionConfig's defaults (docs/spec/SMOLVLM.md, "vision_config").
        var vision = new VisionConfig
        {
            HiddenSize = reader.Int(visionJson, "vision_config.hidden_size", 1152),
            IntermediateSize = reader.Int(visionJson, "vision_config.intermediate_size", 3072),
            NumLayers = reader.Int(visionJson, "vision_config.num_hidden_layers", 12),
            NumHeads = reader.Int(visionJson, "vision_config.num_attention_heads", 16),
            NumChannels = reader.Int(visionJson, "vision_config.num_channels", 3),
            ImageSize = reader.Int(visionJson, "vision_config.image_size", 224),
            PatchSize = reader.Int(visionJson, "vision_config.patch_size", 32),
            LayerNormEps = (float)reader.Double(visionJson, "vision_config.layer_norm_eps", 1e-6),
            HiddenAct = reader.String(visionJson, "vision_config.hidden_act", "gelu_pytorch_tanh"),
        };
        vision.Validate($"{path} (vision_config)");
        bool tied = reader.Bool(json, "tie_word_embeddings", false);   // the top-level flag decides, not text_config's
        // LlamaConfig's defaults for what text_config leaves out (docs/spec/SMOLVLM.md, "text_config").
        var text = new DecoderConfig
        {
            ModelType = "llama",
            VocabSize = reader.Int(textJson, "text_config.vocab_size", 32000),
            HiddenSize = reader.Int(textJson, "text_config.hidden_size", 4096),
            IntermediateSize = reader.Int(textJson, "text_config.intermediate_size", 11008),
            NumLayers = reader.Int(textJson, "text_config.num_hidden_layers", 32),
            NumHeads = reader.Int(textJson, "text_config.num_attention_heads", 32),
            NumKvHeadsField = textJson["num_key_value_heads"] is null ? null : reader.Int(textJson, "text_config.num_key_value_heads", 0),
            RmsNormEps = (float)reader.Double(textJson, "text_config.rms_norm_eps", json["text_config"] is null ? 1e-5 : 1e-6),   // no text_config at all: 1e-5
            RopeTheta = (float)reader.Double(textJson, "text_config.rope_theta", 10000),
            MaxPositions = reader.Int(textJson, "text_config.max_position_embeddings", 2048),
            TieWordEmbeddings = tied,
        };
        text.Validate($"{path} (text_config)");
        if (textJson["head_dim"] is not null && reader.Int(textJson, "text_config.head_dim", 0) != text.HeadDim)
            throw new InvalidDataException($"{path}: field 'text_config.head_dim' ({textJson["head_dim"]}) must be hidden_size / num_attention_heads ({text.HeadDim}): Ril's decoder has no other head size");
        if (reader.String(textJson, "text_config.model_type", "llama") != "llama")
            throw new InvalidDataException($"{path}: field 'text_config.model_type' '{textJson["model_type"]}' is not supported (llama)");
        if (reader.String(textJson, "text_config.hidden_act", "silu") != "silu")
            throw new InvalidDataException($"{path}: field 'text_config.hidden_act' '{textJson["hidden_act"]}' is not supported (silu)");
        if (textJson["rope_scaling"] is JsonObject)
            throw new InvalidDataException($"{path}: field 'text_config.rope_scaling' is not supported (only null)");
        if (reader.Bool(textJson, "text_config.attention_bias", false) || reader.Bool(textJson, "text_config.mlp_bias", false))
            throw new InvalidDataException($"{path}: field 'text_config.attention_bias'/'mlp_bias' must be false: Idefics3's Llama has no biases");
        int scale = reader.Int(json, "scale_factor", 2);
        if (scale < 1 || vision.GridSize % scale != 0)
            throw new InvalidDataException($"{path}: field 'scale_factor' ({scale}) must divide the patch grid's side (image_size / patch_size = {vision.GridSize})");
        int imageToken = reader.Int(json, "image_token_id", 128257);
        if (imageToken < 0 || imageToken >= text.VocabSize)
            throw new InvalidDataException($"{path}: field 'image_token_id' ({imageToken}) is not an id of the text model's vocabulary ({text.VocabSize})");
        return new SmolVlmConfig(text, vision, scale, imageToken, tied, (JsonObject)json.DeepClone());
    }
}

/// <summary>Typed reads of a JSON config with errors naming the file and the field.</summary>
public sealed class ConfigReader(string path)
{
    public JsonObject Object(JsonObject json, string field) => json[field] switch
    {
        null => new JsonObject(),
        JsonObject o => o,
        var other => throw new InvalidDataException($"{path}: field '{field}' must be an object, not {other.ToJsonString()}"),
    };

    T Read<T>(JsonObject json, string field, T fallback)
    {
        var node = json[field[(field.LastIndexOf('.') + 1)..]];
        if (node is null) return fallback;
        try { return node.GetValue<T>(); }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: field '{field}' must be {typeof(T).Name.ToLowerInvariant()}, not {node.ToJsonString()}");
        }
    }

    public int Int(JsonObject json, string field, int fallback)
    {
        var node = json[field[(field.LastIndexOf('.') + 1)..]];
        if (node is JsonValue v && v.TryGetValue<double>(out var d) && d == Math.Floor(d) && Math.Abs(d) <= int.MaxValue) return (int)d;
        return node is null ? fallback : throw new InvalidDataException($"{path}: field '{field}' must be an integer, not {node.ToJsonString()}");
    }

    public double Double(JsonObject json, string field, double fallback) => Read(json, field, fallback);
    public bool Bool(JsonObject json, string field, bool fallback) => Read(json, field, fallback);
    public string String(JsonObject json, string field, string fallback) => Read(json, field, fallback);
}
