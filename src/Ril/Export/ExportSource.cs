using System.Text.Json;
using System.Text.Json.Nodes;
using Ril.Models;

namespace Ril.Export;

/// <summary>
/// The model an export reads: a model folder as it is, or a PEFT adapter folder (adapter_config.json and
/// adapter_model.safetensors, what a LoRA run writes) over its base, the adapters merged into the base's weights.
/// </summary>
public static class ExportSource
{
    /// <summary>
    /// Loads <paramref name="dir"/>; for an adapter folder, the base is <paramref name="baseModel"/> or else the adapter's
    /// base_model_name_or_path, made a folder by <paramref name="resolve"/> (a directory or a Hub id). Returns the model
    /// and the folder its tokenizer files are in.
    /// </summary>
    public static (ChatModel Model, string TokenizerDir) Load(string dir, Func<string, string> resolve, string? baseModel = null)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"model folder not found: {dir}");
        var adapterConfig = Path.Combine(dir, PeftAdapter.ConfigFile);
        if (!File.Exists(adapterConfig) || File.Exists(Path.Combine(dir, "config.json")))
        {
            if (baseModel is not null) throw new ArgumentException($"{dir} is a model folder, not an adapter folder: --base applies to adapters only");
            return (ChatModel.Load(dir), dir);
        }
        if (baseModel is null)
        {
            JsonNode? root;
            try { root = JsonNode.Parse(File.ReadAllText(adapterConfig)); }
            catch (JsonException e) { throw new InvalidDataException($"{adapterConfig}:{e.LineNumber + 1}: {e.Message}", e); }
            baseModel = root?["base_model_name_or_path"] is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0 ? s
                : throw new InvalidDataException($"{adapterConfig}: field 'base_model_name_or_path' is missing; name the base model with --base");
        }
        var baseDir = resolve(baseModel);
        var chat = ChatModel.Load(baseDir);
        PeftAdapter.Load(dir, chat.Model).Merge();   // the base loads in float32, so the merge is exact up to rounding
        return (chat, baseDir);
    }
}
