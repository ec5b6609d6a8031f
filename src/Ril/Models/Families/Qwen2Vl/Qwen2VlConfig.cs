using System.Text.Json.Nodes;
using Ril.Models.Families.Llama;

namespace Ril.Models.Families.Qwen2Vl;

/// <summary>The vision tower of either variant, read from vision_config (docs/spec/QWEN2_VL.md §2.4: the same keys mean different things).</summary>
public sealed record VisionTowerConfig
{
    /// <summary>Qwen2.5-VL: RMSNorm and SwiGLU blocks, window attention outside <see cref="FullAttentionBlocks"/>.</summary>
    public bool Windowed { get; init; }
    public int Width { get; init; }
    /// <summary>The merger's output width: the language model's hidden size.</summary>
    public int OutWidth { get; init; }
    public int MlpWidth { get; init; }
    /// <summary>The blocks' MLP activation: quick_gelu (Qwen2-VL's default), gelu, silu.</summary>
    public string Activation { get; init; } = "quick_gelu";
    public int Depth { get; init; }
    public int Heads { get; init; }
    public int PatchSize { get; init; } = 14;
    public int MergeSize { get; init; } = 2;
    public int TemporalPatchSize { get; init; } = 2;
    public int InChannels { get; init; } = 3;
    /// <summary>Window side in pixels (Qwen2.5-VL).</summary>
    public int WindowSize { get; init; } = 112;
    public int[] FullAttentionBlocks { get; init; } = [];
    /// <summary>Where the tower's weights live: visual. (Qwen2/2.5-VL's Hub names) or model.visual. (Qwen3-VL's).</summary>
    public string Prefix { get; init; } = "visual.";
    /// <summary>Qwen3-VL names the blocks' two MLP layers linear_fc1 / linear_fc2 (Qwen2-VL: fc1 / fc2).</summary>
    public bool LinearFcNames { get; init; }

    public int HeadDim => Width / Heads;
    /// <summary>Values of one flattened patch: channels × frames × p × p.</summary>
    public int PatchValues => InChannels * TemporalPatchSize * PatchSize * PatchSize;
    /// <summary>Window side in merged tokens (112 / 2 / 14 = 4).</summary>
    public int WindowTokens => WindowSize / MergeSize / PatchSize;
}

/// <summary>
/// A Qwen2-VL or Qwen2.5-VL config.json: the language model's fields (from text_config when present, else the top
/// level), mrope_section, the vision tower's and the special tokens' ids. Errors name the file and the field.
/// </summary>
public sealed record Qwen2VlConfig(string ModelType, DecoderConfig Text, int[] MropeSection, VisionTowerConfig Vision,
                                   int ImageTokenId, int VisionStartTokenId, int VisionEndTokenId, JsonObject Json)
{
    public const string Qwen2Vl = "qwen2_vl", Qwen25Vl = "qwen2_5_vl";

    public static Qwen2VlConfig Parse(JsonObject json, string path)
    {
        var type = Str(json, "model_type", path, null);
        if (type is not (Qwen2Vl or Qwen25Vl)) throw new InvalidDataException($"{path}: field 'model_type' is '{type}', expected {Qwen2Vl} or {Qwen25Vl}");
        var (decoder, mrope, _) = ParseText(json, path, "qwen2", 1e6f, 32768, qwen3: false);
        var vc = json["vision_config"] as JsonObject ?? throw new InvalidDataException($"{path}: field 'vision_config' is missing");
        string vp = path + " vision_config";
        bool windowed = type == Qwen25Vl;
        int width = windowed ? Int(vc, "hidden_size", vp) : Int(vc, "embed_dim", vp);
        var vision = new VisionTowerConfig
        {
            Windowed = windowed,
            Width = width,
            OutWidth = windowed ? Int(vc, "out_hidden_size", vp) : Int(vc, "hidden_size", vp),
            MlpWidth = windowed ? Int(vc, "intermediate_size", vp) : (int)(width * Float(vc, "mlp_ratio", vp, 4)),
            Activation = Str(vc, "hidden_act", vp, windowed ? "silu" : "quick_gelu")!,
            Depth = Int(vc, "depth", vp),
            Heads = Int(vc, "num_heads", vp),
            PatchSize = Int(vc, "patch_size", vp, Int(vc, "spatial_patch_size", vp, 14)),
            MergeSize = Int(vc, "spatial_merge_size", vp, 2),
            TemporalPatchSize = Int(vc, "temporal_patch_size", vp, 2),
            InChannels = Int(vc, "in_chans", vp, Int(vc, "in_channels", vp, 3)),
            WindowSize = Int(vc, "window_size", vp, 112),
            FullAttentionBlocks = vc["fullatt_block_indexes"] is JsonArray full ? Ints(full, "fullatt_block_indexes", vp) : [],
        };
        foreach (var (field, value) in new[] { ("depth", vision.Depth), ("patch_size", vision.PatchSize), ("spatial_merge_size", vision.MergeSize),
                                               ("temporal_patch_size", vision.TemporalPatchSize), ("in_chans", vision.InChannels), ("window_size", vision.WindowSize) })
            if (value < 1) throw new InvalidDataException($"{vp}: field '{field}' ({value}) must be positive");
        if (vision.Activation is not ("quick_gelu" or "gelu" or "silu")) throw new InvalidDataException($"{vp}: field 'hidden_act' '{vision.Activation}' is not quick_gelu, gelu or silu");
        if (vision.Heads < 1 || width % vision.Heads != 0 || vision.HeadDim % 4 != 0)
            throw new InvalidDataException($"{vp}: field 'num_heads' ({vision.Heads}) must divide the vision width {width} into heads of a multiple of 4");
        if (vision.OutWidth != decoder.HiddenSize)
            throw new InvalidDataException($"{vp}: field '{(windowed ? "out_hidden_size" : "hidden_size")}' ({vision.OutWidth}) must equal the language model's hidden_size ({decoder.HiddenSize})");
        if (windowed && (vision.WindowTokens < 1 || vision.WindowSize % (vision.MergeSize * vision.PatchSize) != 0))
            throw new InvalidDataException($"{vp}: field 'window_size' ({vision.WindowSize}) must be a positive multiple of spatial_merge_size·patch_size");
        int image = Int(json, "image_token_id", path, 151655), start = Int(json, "vision_start_token_id", path, 151652), end = Int(json, "vision_end_token_id", path, 151653);
        if (image >= decoder.VocabSize) throw new InvalidDataException($"{path}: field 'image_token_id' ({image}) is outside the vocabulary ({decoder.VocabSize})");
        return new Qwen2VlConfig(type, decoder, mrope, vision, image, start, end, (JsonObject)json.DeepClone());
    }

    /// <summary>
    /// The language model of a Qwen-VL config.json (text_config when present, else the top level) and its
    /// mrope_section (from rope_scaling or rope_parameters, which may also hold rope_theta). Qwen2/2.5-VL: q/k/v biases,
    /// hidden_size / heads per head, the top-level tie flag first. Qwen3-VL (<paramref name="qwen3"/>): no biases, per-head
    /// q/k norms, an explicit head_dim, text_config's tie flag first. Qwen3.5 (<paramref name="partialRotaryDefault"/> set): the
    /// rotated fraction of each head from partial_rotary_factor (in the rope dict or the top level), and a text-only save may
    /// have no mrope_section (<paramref name="mropeRequired"/> false: an empty one).
    /// </summary>
    internal static (DecoderConfig Decoder, int[] MropeSection, JsonObject Rope) ParseText(JsonObject json, string path, string decoderType, float thetaDefault,
                                                                                          int maxPositionsDefault, bool qwen3, float? partialRotaryDefault = null,
                                                                                          bool mropeRequired = true)
    {
        var text = json["text_config"] as JsonObject ?? json;
        string textPath = ReferenceEquals(text, json) ? path : path + " text_config";
        var rope = text["rope_scaling"] as JsonObject ?? text["rope_parameters"] as JsonObject ?? json["rope_scaling"] as JsonObject
            ?? (mropeRequired ? throw new InvalidDataException($"{textPath}: field 'rope_scaling' (with mrope_section) is missing") : new JsonObject());
        var section = rope["mrope_section"] as JsonArray
            ?? (mropeRequired ? throw new InvalidDataException($"{textPath}: field 'rope_scaling.mrope_section' is missing") : null);
        int[] mrope = section is null ? [] : Ints(section, "rope_scaling.mrope_section", textPath);
        if (mrope.Length == 4 && mrope[3] == 0) mrope = mrope[..3];   // GGUF exports append a 0
        float theta = text["rope_theta"] is not null ? Float(text, "rope_theta", textPath, 0) : Float(rope, "rope_theta", textPath + " rope_parameters", thetaDefault);
        float? partial = partialRotaryDefault is null ? null
            : text["partial_rotary_factor"] is not null ? Float(text, "partial_rotary_factor", textPath, null) : Float(rope, "partial_rotary_factor", textPath + " rope_parameters", partialRotaryDefault);
        bool tiedTop = Bool(json, "tie_word_embeddings", path, false), tiedText = Bool(text, "tie_word_embeddings", textPath, tiedTop);
        var decoder = new DecoderConfig
        {
            ModelType = decoderType,
            VocabSize = Int(text, "vocab_size", textPath),
            HiddenSize = Int(text, "hidden_size", textPath),
            IntermediateSize = Int(text, "intermediate_size", textPath),
            NumLayers = Int(text, "num_hidden_layers", textPath),
            NumHeads = Int(text, "num_attention_heads", textPath),
            NumKvHeadsField = Int(text, "num_key_value_heads", textPath),
            HeadDimField = qwen3 ? Int(text, "head_dim", textPath) : null,
            RmsNormEps = Float(text, "rms_norm_eps", textPath, qwen3 ? 1e-6f : 1e-5f),
            RopeTheta = theta,
            MaxPositions = Int(text, "max_position_embeddings", textPath, maxPositionsDefault),
            TieWordEmbeddings = qwen3 ? tiedText : json["tie_word_embeddings"] is null ? tiedText : tiedTop,
            AttentionBias = qwen3 ? Bool(text, "attention_bias", textPath, false) : true,
            PartialRotaryFactor = partial,
        };
        decoder.Validate(textPath);
        if (qwen3 && decoder.AttentionBias) throw new InvalidDataException($"{textPath}: field 'attention_bias' must be false (Qwen3 has no q/k/v biases)");
        if (Str(text, "hidden_act", textPath, "silu") != "silu") throw new InvalidDataException($"{textPath}: field 'hidden_act' must be silu");
        if ((mropeRequired || section is not null) && (mrope.Length != 3 || mrope.Any(s => s < 0) || mrope.Sum(s => (long)s) != decoder.RotaryDim / 2))
            throw new InvalidDataException($"{textPath}: field 'rope_scaling.mrope_section' [{string.Join(", ", mrope)}] must be three sizes summing to the rotated head_dim/2 = {decoder.RotaryDim / 2}");
        return (decoder, mrope, rope);
    }

    internal static JsonNode? Field(JsonObject o, string field, string path, bool required)
    {
        var node = o[field];
        if (node is null && required) throw new InvalidDataException($"{path}: field '{field}' is missing");
        return node;
    }

    internal static T Read<T>(JsonObject o, string field, string path, T? fallback, string kind) where T : struct
    {
        var node = Field(o, field, path, fallback is null);
        if (node is null) return fallback!.Value;
        try { return node.GetValue<T>(); }
        catch (Exception e) when (e is InvalidOperationException or FormatException)
        { throw new InvalidDataException($"{path}: field '{field}' must be {kind}, got {node.ToJsonString()}", e); }
    }

    /// <summary>A list of integers, or an error naming the field.</summary>
    internal static int[] Ints(JsonArray list, string field, string path) =>
        list.Select(n => n is JsonValue v && v.TryGetValue<int>(out var i) ? i
            : throw new InvalidDataException($"{path}: field '{field}' must be a list of integers, got {list.ToJsonString()}")).ToArray();

    internal static int Int(JsonObject o, string field, string path, int? fallback = null) => Read(o, field, path, fallback, "an integer");
    internal static float Float(JsonObject o, string field, string path, float? fallback) => (float)Read<double>(o, field, path, fallback, "a number");
    internal static bool Bool(JsonObject o, string field, string path, bool? fallback) => Read(o, field, path, fallback, "true or false");
    internal static string? Str(JsonObject o, string field, string path, string? fallback)
    {
        var node = Field(o, field, path, fallback is null);
        if (node is null) return fallback;
        return node is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw new InvalidDataException($"{path}: field '{field}' must be a string");
    }
}
