using System.Text.Json.Nodes;
using Ril.Models.Families.Llama;
using Ril.Models.Families.Qwen2Vl;
using static Ril.Models.Families.Qwen2Vl.Qwen2VlConfig;

namespace Ril.Models.Families.Qwen3Vl;

/// <summary>
/// A Qwen3-VL (dense) config.json (docs/spec/QWEN3_VL.md §2): the Qwen3 language model from text_config (explicit
/// head_dim, per-head q/k norms, no q/k/v biases), interleaved mrope_section from rope_scaling or rope_parameters, the
/// vision tower with its learned position table and DeepStack taps, and the special tokens' ids. Errors name the file
/// and the field.
/// </summary>
public sealed record Qwen3VlConfig(DecoderConfig Text, int[] MropeSection, VisionTowerConfig Vision, int[] DeepstackIndexes, int PositionTableSide,
                                   int ImageTokenId, int VisionStartTokenId, int VisionEndTokenId, JsonObject Json)
{
    public const string ModelType = "qwen3_vl";

    public static Qwen3VlConfig Parse(JsonObject json, string path)
    {
        var type = Str(json, "model_type", path, null);
        if (type != ModelType) throw new InvalidDataException($"{path}: field 'model_type' is '{type}', expected {ModelType}");
        // Released files nest the language model in text_config; a hand-made config may keep it at the top level.
        var (decoder, mrope, rope) = ParseText(json, path, "qwen3", 5e6f, 262144, qwen3: true);
        string textPath = json["text_config"] is JsonObject ? path + " text_config" : path;
        // Released files repeat the tie flag at the top level with the same value; a re-save that made them disagree is refused.
        if (json["text_config"] is JsonObject text && text["tie_word_embeddings"] is not null && json["tie_word_embeddings"] is not null
            && Bool(json, "tie_word_embeddings", path, false) != decoder.TieWordEmbeddings)
            throw new InvalidDataException($"{path}: field 'tie_word_embeddings' ({json["tie_word_embeddings"]!.ToJsonString()}) disagrees with text_config.tie_word_embeddings ({decoder.TieWordEmbeddings.ToString().ToLowerInvariant()})");
        if (rope["mrope_interleaved"] is { } flag && !Bool(rope, "mrope_interleaved", textPath + " rope_scaling", true))
            throw new InvalidDataException($"{textPath}: field 'rope_scaling.mrope_interleaved' is {flag.ToJsonString()}; Qwen3-VL always interleaves");
        var (vision, deepstack, side) = ParseVision(json, path, decoder, deepstackRequired: true);
        int image = Int(json, "image_token_id", path, 151655), start = Int(json, "vision_start_token_id", path, 151652), end = Int(json, "vision_end_token_id", path, 151653);
        if (image < 0 || image >= decoder.VocabSize) throw new InvalidDataException($"{path}: field 'image_token_id' ({image}) is outside the vocabulary ({decoder.VocabSize})");
        return new Qwen3VlConfig(decoder, mrope, vision, deepstack, side, image, start, end, (JsonObject)json.DeepClone());
    }

    /// <summary>
    /// The vision tower of a Qwen3-VL-style vision_config (Qwen3-VL's; Qwen3.5's, which has no DeepStack taps: with
    /// <paramref name="deepstackRequired"/> false an absent deepstack_visual_indexes means none), checked against the decoder it feeds.
    /// </summary>
    internal static (VisionTowerConfig Vision, int[] Deepstack, int PositionTableSide) ParseVision(JsonObject json, string path, DecoderConfig decoder, bool deepstackRequired)
    {
        var vc = json["vision_config"] as JsonObject ?? throw new InvalidDataException($"{path}: field 'vision_config' is missing");
        string vp = path + " vision_config";
        var vision = new VisionTowerConfig
        {
            Prefix = "model.visual.",
            LinearFcNames = true,
            Width = Int(vc, "hidden_size", vp),
            OutWidth = Int(vc, "out_hidden_size", vp),
            MlpWidth = Int(vc, "intermediate_size", vp),
            Activation = Str(vc, "hidden_act", vp, "gelu_pytorch_tanh")!,
            Depth = Int(vc, "depth", vp),
            Heads = Int(vc, "num_heads", vp),
            PatchSize = Int(vc, "patch_size", vp, 16),
            MergeSize = Int(vc, "spatial_merge_size", vp, 2),
            TemporalPatchSize = Int(vc, "temporal_patch_size", vp, 2),
            InChannels = Int(vc, "in_channels", vp, 3),
        };
        foreach (var (field, value) in new[] { ("depth", vision.Depth), ("patch_size", vision.PatchSize), ("spatial_merge_size", vision.MergeSize),
                                               ("temporal_patch_size", vision.TemporalPatchSize), ("in_channels", vision.InChannels),
                                               ("hidden_size", vision.Width), ("intermediate_size", vision.MlpWidth) })
            if (value < 1) throw new InvalidDataException($"{vp}: field '{field}' ({value}) must be positive");
        if (vision.Activation is not ("gelu_pytorch_tanh" or "gelu" or "quick_gelu" or "silu"))
            throw new InvalidDataException($"{vp}: field 'hidden_act' '{vision.Activation}' is not gelu_pytorch_tanh, gelu, quick_gelu or silu");
        if (vision.Heads < 1 || vision.Width % vision.Heads != 0 || vision.HeadDim % 4 != 0)
            throw new InvalidDataException($"{vp}: field 'num_heads' ({vision.Heads}) must divide the vision width {vision.Width} into heads of a multiple of 4");
        if (vision.OutWidth != decoder.HiddenSize)
            throw new InvalidDataException($"{vp}: field 'out_hidden_size' ({vision.OutWidth}) must equal the language model's hidden_size ({decoder.HiddenSize})");
        int table = Int(vc, "num_position_embeddings", vp), side = (int)Math.Round(Math.Sqrt(table));
        if (table < 1 || side * side != table) throw new InvalidDataException($"{vp}: field 'num_position_embeddings' ({table}) must be a positive perfect square");
        // Required: transformers' class default [8, 16, 24] fits the 8B only.
        int[] deepstack = vc["deepstack_visual_indexes"] is JsonArray taps ? Ints(taps, "deepstack_visual_indexes", vp)
            : !deepstackRequired ? []
            : throw new InvalidDataException($"{vp}: field 'deepstack_visual_indexes' is missing (a list of block indices, [] for none)");
        if (deepstack.Any(b => b < 0 || b >= vision.Depth) || deepstack.Distinct().Count() != deepstack.Length)
            throw new InvalidDataException($"{vp}: field 'deepstack_visual_indexes' [{string.Join(", ", deepstack)}] must be distinct block indices below depth {vision.Depth}");
        if (deepstack.Length > decoder.NumLayers)
            throw new InvalidDataException($"{vp}: field 'deepstack_visual_indexes' has {deepstack.Length} taps, more than the {decoder.NumLayers} decoder layers they feed");
        return (vision, deepstack, side);
    }
}
