using System.Text.Json;
using System.Text.Json.Nodes;
using Ril.Text.Jinja;

namespace Ril.Export;

/// <summary>
/// A byte-level BPE tokenizer as GGUF carries it (tokenizer.ggml.*, docs/spec/GGUF.md): every id's token text and type,
/// the merges in rank order, the pre-tokenizer's name in llama.cpp, the special ids and the chat template, read from
/// the model folder's tokenizer.json, tokenizer_config.json and config.json as llama.cpp's converter reads them.
/// </summary>
public sealed record GgufVocab(
    IReadOnlyList<string> Tokens, IReadOnlyList<int> TokenTypes, IReadOnlyList<string> Merges, string Pre,
    int? BosId, int? EosId, int? PadId, int? UnkId, bool AddBos, bool? AddEos, string? ChatTemplate)
{
    /// <summary>Token types as llama.cpp numbers them.</summary>
    public const int Normal = 1, Control = 3, UserDefined = 4, Unused = 5;

    /// <summary>
    /// Split regexes of tokenizer.json's pre-tokenizer and the name llama.cpp gives the pre-tokenizer they make
    /// (llama.cpp re-implements each by name; the converter recognises them by hashing a test text's tokens, the same
    /// answer for these tokenizers).
    /// </summary>
    static readonly (string Regex, string Name)[] KnownSplits =
    [
        (@"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+", "qwen2"),
        (@"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+", "llama-bpe"),
    ];

    /// <summary>
    /// The vocabulary of a model folder, padded to <paramref name="vocabSize"/> (the embedding's rows) with unused
    /// "[PADn]" tokens as the converter pads. <paramref name="preOverride"/> names the pre-tokenizer when tokenizer.json's
    /// is not one this exporter recognises.
    /// </summary>
    public static GgufVocab Read(string dir, int vocabSize, string? preOverride = null)
    {
        var path = Path.Combine(dir, "tokenizer.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"{dir}: no tokenizer.json to export", path);
        var root = ReadObject(path);
        var model = root["model"] as JsonObject ?? throw new InvalidDataException($"{path}: field 'model' is missing");
        if ((string?)model["type"] is { } type && type != "BPE")
            throw new InvalidDataException($"{path}: field 'model.type' is '{type}'; GGUF export writes byte-level BPE (gpt2) vocabularies only");
        var byId = new Dictionary<int, string>();
        foreach (var (token, id) in model["vocab"] as JsonObject ?? throw new InvalidDataException($"{path}: field 'model.vocab' is missing"))
            byId[Int(id, $"model.vocab.{token}", path)] = token;
        var added = new Dictionary<int, (string Content, bool Special)>();
        foreach (var node in root["added_tokens"] as JsonArray ?? [])
        {
            if (node is not JsonObject a) throw new InvalidDataException($"{path}: field 'added_tokens' holds a non-object");
            int id = Int(a["id"], "added_tokens[].id", path);
            var content = (string?)a["content"] ?? throw new InvalidDataException($"{path}: field 'added_tokens[].content' is missing");
            added[id] = (content, a["special"] is JsonValue s && s.TryGetValue<bool>(out var special) && special);
            byId[id] = content;
        }
        int largest = byId.Count == 0 ? -1 : byId.Keys.Max();
        if (largest >= vocabSize)
            throw new InvalidDataException($"{path}: token id {largest} does not fit the model's {vocabSize} embedding rows (vocab_size)");

        var tokens = new string[vocabSize];
        var types = new int[vocabSize];
        for (int i = 0; i < vocabSize; i++)
        {
            if (!byId.TryGetValue(i, out var token)) (tokens[i], types[i]) = ($"[PAD{i}]", Unused);
            else if (added.TryGetValue(i, out var a)) (tokens[i], types[i]) = a.Special || LooksSpecial(a.Content) ? (token, Control) : (token.Replace('\u2581', ' '), UserDefined);
            else (tokens[i], types[i]) = (token, Normal);
        }

        var merges = (model["merges"] as JsonArray ?? []).Select(m => m switch
        {
            JsonValue v when v.TryGetValue<string>(out var s) => s,
            JsonArray { Count: 2 } pair => $"{(string?)pair[0]} {(string?)pair[1]}",
            _ => throw new InvalidDataException($"{path}: field 'model.merges' holds {m?.ToJsonString()}, neither \"a b\" nor [\"a\", \"b\"]"),
        }).ToList();

        var pre = preOverride ?? PreTokenizerName(root["pre_tokenizer"], path);
        var tokenizerConfigPath = Path.Combine(dir, "tokenizer_config.json");
        var tokenizerConfig = File.Exists(tokenizerConfigPath) ? ReadObject(tokenizerConfigPath) : new JsonObject();
        var configPath = Path.Combine(dir, "config.json");
        var config = File.Exists(configPath) ? ReadObject(configPath) : new JsonObject();
        var idOf = byId.GroupBy(kv => kv.Value).ToDictionary(g => g.Key, g => g.Max(kv => kv.Key));   // added tokens win, as they are read last

        // A special token is named in tokenizer_config.json (as text or as {"content": …}); else config.json gives its id.
        int? Special(string kind)
        {
            if (HfChatTemplate.TokenText(tokenizerConfig[kind + "_token"]) is { } text && idOf.TryGetValue(text, out var id)) return id;
            return config[kind + "_token_id"] is JsonValue v && v.TryGetValue<int>(out var fromConfig) && fromConfig >= 0 && fromConfig < vocabSize ? fromConfig : null;
        }
        int? bos = Special("bos");
        bool? Flag(string key) => tokenizerConfig[key] is JsonValue v && v.TryGetValue<bool>(out var b) ? b : null;
        bool addBos = Flag("add_bos_token") ?? (bos is int b && PostProcessorStartsWith(root["post_processor"], tokens[b]));
        return new GgufVocab(tokens, types, merges, pre, bos, Special("eos"), Special("pad"), Special("unk"), addBos, Flag("add_eos_token"),
            HfChatTemplate.FromModelDirectory(dir)?.Source);
    }

    /// <summary>Added tokens that are not flagged special but read as control tokens (<c>&lt;|…|&gt;</c>, &lt;pad&gt;, &lt;mask&gt;), as the converter treats them.</summary>
    static bool LooksSpecial(string token) =>
        token is "<pad>" or "<mask>" || (token.StartsWith("<|", StringComparison.Ordinal) && token.EndsWith("|>", StringComparison.Ordinal));

    /// <summary>llama.cpp's name for the pre-tokenizer of tokenizer.json: by its Split regex, else by its plain ByteLevel form.</summary>
    static string PreTokenizerName(JsonNode? pre, string path)
    {
        var nodes = Walked(pre).ToList();
        var kinds = nodes.Select(o => (string?)o["type"] ?? "").ToList();
        var splits = nodes.Where(o => (string?)o["type"] == "Split").Select(o => o["pattern"]?["Regex"]).OfType<JsonValue>()
            .Select(r => r.TryGetValue<string>(out var regex) ? regex : null).OfType<string>().ToList();
        foreach (var regex in splits)
            if (KnownSplits.FirstOrDefault(k => k.Regex == regex).Name is { } name) return name;
        bool byteLevelRegex = nodes.Any(o => (string?)o["type"] == "ByteLevel" && (o["use_regex"] is not JsonValue v || !v.TryGetValue<bool>(out var use) || use));
        if (splits.Count == 0 && byteLevelRegex)
            return kinds.Contains("Digits") ? "smollm" : "gpt-2";   // SmolLM's digits split alone, then GPT-2's regex; plain GPT-2 otherwise
        var found = splits.Count > 0 ? $"Split regex {JsonSerializer.Serialize(splits[0])}" : $"pre-tokenizers [{string.Join(", ", kinds)}]";
        throw new InvalidDataException($"{path}: field 'pre_tokenizer' ({found}) is not one whose llama.cpp name this exporter knows (qwen2, llama-bpe, gpt-2, smollm); name it with --pre");
    }

    static IEnumerable<JsonObject> Walked(JsonNode? node)
    {
        if (node is not JsonObject o) yield break;
        yield return o;
        foreach (var child in o["pretokenizers"] as JsonArray ?? []) foreach (var c in Walked(child)) yield return c;
    }

    /// <summary>Whether tokenizer.json's TemplateProcessing (alone or in a Sequence) puts <paramref name="token"/> first in a single sequence: it adds BOS.</summary>
    static bool PostProcessorStartsWith(JsonNode? post, string token)
    {
        IEnumerable<JsonObject> processors = post is JsonObject p && p["processors"] is JsonArray list ? list.OfType<JsonObject>() : post is JsonObject one ? [one] : [];
        return processors.Any(o => (string?)o["type"] == "TemplateProcessing" && o["single"] is JsonArray { Count: > 0 } single && (string?)single[0]?["SpecialToken"]?["id"] == token);
    }

    static int Int(JsonNode? node, string field, string path) =>
        node is JsonValue v && v.TryGetValue<int>(out var i) && i >= 0 ? i : throw new InvalidDataException($"{path}: field '{field}' is {node?.ToJsonString() ?? "missing"}, not a token id");

    static JsonObject ReadObject(string path)
    {
        try { return JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}:{e.LineNumber + 1}: {e.Message}", e); }
    }
}
