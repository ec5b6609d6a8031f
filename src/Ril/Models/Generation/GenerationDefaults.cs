using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ril.Models.Generation;

/// <summary>
/// A checkpoint's generation_config.json: the decoding defaults its authors ship (Qwen2.5-VL: temperature 0.1 … top_k 1,
/// repetition_penalty 1.05; end-of-turn ids). They apply to `generate`, `serve` and evaluation wherever the user sets
/// nothing, as transformers' generate() applies them; a setting the user gives always wins.
/// </summary>
public sealed record GenerationDefaults
{
    public float? Temperature { get; init; }
    public float? TopP { get; init; }
    public int? TopK { get; init; }
    public float? RepetitionPenalty { get; init; }
    public int? MaxNewTokens { get; init; }
    /// <summary>do_sample: false means greedy decoding whatever the temperature (transformers' rule).</summary>
    public bool? DoSample { get; init; }
    /// <summary>eos_token_id, one id or a list: each ends a reply.</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    public static readonly GenerationDefaults None = new();

    /// <summary>DIR/generation_config.json, or <see cref="None"/> when the directory has none. A bad field names the file and field.</summary>
    public static GenerationDefaults Load(string dir)
    {
        var path = Path.Combine(dir, "generation_config.json");
        if (!File.Exists(path)) return None;
        JsonObject json;
        try { json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}:{e.LineNumber + 1}: {e.Message}", e); }

        T? Field<T>(string name) where T : struct
        {
            if (json[name] is not JsonValue value) return null;
            try { return value.GetValue<T>(); }
            catch (Exception e) when (e is FormatException or InvalidOperationException)
            { throw new InvalidDataException($"{path}: field '{name}': expected a {(typeof(T) == typeof(bool) ? "boolean" : "number")}, got {value.ToJsonString()}"); }
        }
        var eos = json["eos_token_id"] switch
        {
            null => [],
            JsonArray list => list.Select(n => n is JsonValue v && v.TryGetValue<int>(out var id) ? id
                : throw new InvalidDataException($"{path}: field 'eos_token_id': expected token ids, got {n?.ToJsonString()}")).ToList(),
            JsonValue one when one.TryGetValue<int>(out var id) => [id],
            var other => throw new InvalidDataException($"{path}: field 'eos_token_id': expected an id or a list of ids, got {other.ToJsonString()}"),
        };
        return new GenerationDefaults
        {
            Temperature = Field<float>("temperature"), TopP = Field<float>("top_p"), TopK = Field<int>("top_k"),
            RepetitionPenalty = Field<float>("repetition_penalty"), MaxNewTokens = Field<int>("max_new_tokens"),
            DoSample = Field<bool>("do_sample"), EosTokenIds = eos,
        };
    }

    /// <summary>
    /// Sampling options from what the user set (nulls: not set), then these defaults, then Ril's own
    /// (<see cref="SamplingOptions"/>'s, or <paramref name="fallback"/>'s); stop tokens are the model's and these eos ids.
    /// </summary>
    public SamplingOptions Resolve(float? temperature, float? topP, int? topK, float? repetitionPenalty, int? maxNewTokens,
                                   IReadOnlyList<int> modelStopTokens, SamplingOptions? fallback = null)
    {
        var f = fallback ?? new SamplingOptions();
        // do_sample false: greedy unless the user asked for a temperature.
        float? checkpointTemperature = DoSample == false ? 0f : Temperature;
        return f with
        {
            Temperature = temperature ?? checkpointTemperature ?? f.Temperature,
            TopP = topP ?? TopP ?? f.TopP,
            TopK = topK ?? TopK ?? f.TopK,
            RepetitionPenalty = repetitionPenalty ?? RepetitionPenalty ?? f.RepetitionPenalty,
            MaxNewTokens = maxNewTokens ?? MaxNewTokens ?? f.MaxNewTokens,
            StopTokens = modelStopTokens.Concat(EosTokenIds).Distinct().ToList(),
        };
    }
}
