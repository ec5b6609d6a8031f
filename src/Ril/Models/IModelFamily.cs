using System.Text.Json;
using System.Text.Json.Nodes;
using Ril.Models.Families.Llama;
using Ril.Models.Families.Qwen2Vl;
using Ril.Models.Families.Qwen3Vl;
using Ril.Models.Families.Qwen35;
using Ril.Models.Families.RilVlm;
using Ril.Models.Families.SmolVlm;
using Ril.Text;

namespace Ril.Models;

/// <summary>
/// A model family: one folder under Models/Families/ with its config, processor, model and weight names, reached only
/// through this seam. <see cref="ModelFamilies"/> picks a family by config.json's <c>model_type</c>.
/// </summary>
public interface IModelFamily
{
    string Name { get; }
    /// <summary>The config.json <c>model_type</c> values this family loads.</summary>
    IReadOnlyList<string> ModelTypes { get; }

    /// <summary>
    /// The model of a directory's config.json (already parsed: <paramref name="config"/>, from <paramref name="configPath"/>),
    /// its weights loaded (every tensor of the checkpoint must find its parameter), and its processor. With
    /// <paramref name="frozen"/> (the weights will not be trained) the family may keep BF16 matrices in bf16 where every op
    /// that reads them accepts bf16 storage.
    /// </summary>
    (ICausalLM Model, IProcessor Processor) Load(string dir, JsonObject config, string configPath, BpeTokenizer tokenizer, bool frozen = false);
}

/// <summary>The registry of model families, keyed by <c>model_type</c>.</summary>
public static class ModelFamilies
{
    static readonly List<IModelFamily> _all = [new RilVlmFamily(), new LlamaFamily(), new Qwen2VlFamily(), new Qwen3VlFamily(), new Qwen35Family(), new SmolVlmFamily()];

    public static IReadOnlyList<IModelFamily> All => _all;

    /// <summary>Adds a family (a plug-in, or a test's); a model_type another family claims is an error.</summary>
    public static void Register(IModelFamily family)
    {
        foreach (var type in family.ModelTypes)
            if (_all.FirstOrDefault(f => f.ModelTypes.Contains(type)) is { } owner)
                throw new ArgumentException($"model_type '{type}' belongs to family {owner.Name} already");
        _all.Add(family);
    }

    /// <summary>The family of a config.json; an unknown model_type names the known ones.</summary>
    public static IModelFamily Of(JsonObject config, string configPath)
    {
        // Ril's own layout was saved without model_type by early versions: text_config alone marks it.
        var type = config["model_type"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : config.ContainsKey("text_config") ? RilVlmFamily.ModelType : null;
        if (type is null) throw new InvalidDataException($"{configPath}: field 'model_type' is missing (known: {string.Join(", ", _all.SelectMany(f => f.ModelTypes))})");
        return _all.FirstOrDefault(f => f.ModelTypes.Contains(type))
            ?? throw new InvalidDataException($"{configPath}: field 'model_type': '{type}' is not a family Ril knows (known: {string.Join(", ", _all.SelectMany(f => f.ModelTypes))})");
    }

    /// <summary>DIR/config.json parsed, with errors naming the file and line.</summary>
    public static JsonObject ReadConfig(string dir, out string configPath)
    {
        configPath = Path.Combine(dir, "config.json");
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{dir}: no config.json (is this a model directory?)", configPath);
        try { return JsonNode.Parse(File.ReadAllText(configPath)) as JsonObject ?? throw new InvalidDataException($"{configPath}: not a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"{configPath}:{e.LineNumber + 1}: {e.Message}", e); }
    }
}
