using System.Text.Json.Nodes;
using Ril.Models.Families.Llama;
using Ril.Models.Families.Qwen2Vl;
using Ril.Models.Families.Qwen3Vl;
using static Ril.Models.Families.Qwen2Vl.Qwen2VlConfig;

namespace Ril.Models.Families.Qwen35;

/// <summary>
/// A Qwen3.5 (dense) config.json (docs/spec/QWEN3_5.md "Config"): model_type qwen3_5 with text_config and vision_config, or a
/// text-only qwen3_5_text save (Qwen3_5ForCausalLM) with the text fields at the top level. The text model is the hybrid
/// decoder: layer_types (else full attention every full_attention_interval-th layer), the Gated DeltaNet sizes, partial
/// interleaved M-RoPE from rope_parameters (or rope_scaling, or top-level rope_theta / partial_rotary_factor). Qwen3-VL's
/// vision tower without DeepStack. Errors name the file and the field.
/// </summary>
public sealed record Qwen35Config(DecoderConfig Text, int[] MropeSection, VisionTowerConfig Vision, int PositionTableSide,
                                  int ImageTokenId, int VisionStartTokenId, int VisionEndTokenId, JsonObject Json)
{
    public const string ModelType = "qwen3_5";

    /// <summary>The hybrid text decoder of a qwen3_5 config's text_config, or of a text-only config's top level.</summary>
    public static (DecoderConfig Decoder, int[] MropeSection) ParseText(JsonObject json, string path)
    {
        bool multimodal = json["text_config"] is JsonObject;
        var (decoder, mrope, _) = Qwen2VlConfig.ParseText(json, path, DecoderConfig.Qwen35Text, 1e7f, 32768, qwen3: true,
            partialRotaryDefault: 0.25f, mropeRequired: multimodal);                                       // transformers' default 0.25
        var text = json["text_config"] as JsonObject ?? json;
        string textPath = multimodal ? path + " text_config" : path;
        int layers = decoder.NumLayers, interval = Int(text, "full_attention_interval", textPath, 4);
        if (interval < 1) throw new InvalidDataException($"{textPath}: field 'full_attention_interval' ({interval}) must be positive");
        // Absent layer_types, layer i is full attention when (i + 1) % interval == 0.
        string[] types = text["layer_types"] is JsonArray list
            ? list.Select(n => n is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw new InvalidDataException($"{textPath}: field 'layer_types' must be a list of strings")).ToArray()
            : Enumerable.Range(0, layers).Select(i => (i + 1) % interval == 0 ? "full_attention" : "linear_attention").ToArray();
        decoder = decoder with
        {
            LayerTypes = types,
            LinearKeyHeads = Int(text, "linear_num_key_heads", textPath, 16),
            LinearValueHeads = Int(text, "linear_num_value_heads", textPath, 32),
            LinearKeyDim = Int(text, "linear_key_head_dim", textPath, 128),
            LinearValueDim = Int(text, "linear_value_head_dim", textPath, 128),
            LinearConvKernel = Int(text, "linear_conv_kernel_dim", textPath, 4),
        };
        decoder.Validate(textPath);
        return (decoder, mrope);
    }

    public static Qwen35Config Parse(JsonObject json, string path)
    {
        var type = Str(json, "model_type", path, null);
        if (type != ModelType) throw new InvalidDataException($"{path}: field 'model_type' is '{type}', expected {ModelType}");
        if (json["text_config"] is not JsonObject) throw new InvalidDataException($"{path}: field 'text_config' is missing");
        var (decoder, mrope) = ParseText(json, path);
        var rope = json["text_config"]!["rope_parameters"] as JsonObject ?? json["text_config"]!["rope_scaling"] as JsonObject;
        if (rope?["mrope_interleaved"] is { } flag && !Bool(rope, "mrope_interleaved", path + " text_config rope_parameters", true))
            throw new InvalidDataException($"{path} text_config: field 'rope_parameters.mrope_interleaved' is {flag.ToJsonString()}; Qwen3.5 always interleaves");
        if (json["tie_word_embeddings"] is not null && json["text_config"]!["tie_word_embeddings"] is not null
            && Bool(json, "tie_word_embeddings", path, false) != decoder.TieWordEmbeddings)
            throw new InvalidDataException($"{path}: field 'tie_word_embeddings' ({json["tie_word_embeddings"]!.ToJsonString()}) disagrees with text_config.tie_word_embeddings ({decoder.TieWordEmbeddings.ToString().ToLowerInvariant()})");
        var (vision, deepstack, side) = Qwen3VlConfig.ParseVision(json, path, decoder, deepstackRequired: false);
        if (deepstack.Length > 0)
            throw new InvalidDataException($"{path} vision_config: field 'deepstack_visual_indexes' [{string.Join(", ", deepstack)}] must be empty: Qwen3.5 has no DeepStack");
        int image = Int(json, "image_token_id", path, 248056), start = Int(json, "vision_start_token_id", path, 248053), end = Int(json, "vision_end_token_id", path, 248054);
        if (image < 0 || image >= decoder.VocabSize) throw new InvalidDataException($"{path}: field 'image_token_id' ({image}) is outside the vocabulary ({decoder.VocabSize})");
        return new Qwen35Config(decoder, mrope, vision, side, image, start, end, (JsonObject)json.DeepClone());
    }
}
