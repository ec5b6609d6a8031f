using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ril.Text.Jinja;

/// <summary>
/// A checkpoint's chat template, rendered as transformers' <c>apply_chat_template</c> renders it: the variables
/// <c>messages</c>, <c>add_generation_prompt</c>, <c>bos_token</c>, <c>eos_token</c>, <c>tools</c> and
/// <c>documents</c> (None unless given), the extra context, and the globals <c>raise_exception</c> and <c>strftime_now</c>.
/// </summary>
public sealed class HfChatTemplate
{
    readonly Template _template;
    readonly Template? _toolUse;

    public string Source { get; }
    /// <summary>Where the template came from, e.g. "chat_template.jinja"; errors name it.</summary>
    public string Name => _template.Name;
    public string? BosToken { get; }
    public string? EosToken { get; }
    /// <summary>The time <c>strftime_now</c> formats (Llama 3 and Granite print today's date); the local time unless set.</summary>
    public Func<DateTime> Clock { get; set; } = () => DateTime.Now;

    HfChatTemplate(string source, Template template, Template? toolUse, string? bos, string? eos)
    {
        Source = source;
        _template = template;
        _toolUse = toolUse;
        BosToken = bos;
        EosToken = eos;
        foreach (var t in new[] { template, toolUse }.OfType<Template>())
        {
            t.AddGlobal("raise_exception", Template.RaiseException);
            t.AddGlobal("strftime_now", Template.StrftimeNow(() => Clock()));
        }
    }

    /// <summary>Parses a template; a syntax error is a <see cref="TemplateException"/> naming <paramref name="name"/> and the line.</summary>
    public static HfChatTemplate Parse(string source, string name, string? bos, string? eos) =>
        new(source, Template.Parse(source, name), null, bos, eos);

    /// <summary>
    /// The template of a model folder, in transformers' order: chat_template.jinja, chat_template.json
    /// (<c>{"chat_template": "..."}</c>), then tokenizer_config.json's <c>chat_template</c> (a string, or a list of
    /// <c>{name, template}</c> of which "default" is used, and "tool_use" when tools are given). The special tokens
    /// come from tokenizer_config.json. Null when the folder has no template.
    /// </summary>
    public static HfChatTemplate? FromModelDirectory(string dir)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"model folder not found: {dir}");
        var configPath = Path.Combine(dir, "tokenizer_config.json");
        var config = File.Exists(configPath) ? ReadJsonObject(configPath) : null;
        string? bos = TokenText(config?["bos_token"]), eos = TokenText(config?["eos_token"]);

        var jinjaPath = Path.Combine(dir, "chat_template.jinja");
        if (File.Exists(jinjaPath)) return Parse(File.ReadAllText(jinjaPath), "chat_template.jinja", bos, eos);

        var jsonPath = Path.Combine(dir, "chat_template.json");
        if (File.Exists(jsonPath) && ReadJsonObject(jsonPath)["chat_template"] is JsonValue fromJson && fromJson.TryGetValue<string>(out var jsonSource))
            return Parse(jsonSource, "chat_template.json", bos, eos);

        switch (config?["chat_template"])
        {
            case JsonValue value when value.TryGetValue<string>(out var source):
                return Parse(source, "tokenizer_config.json", bos, eos);
            case JsonArray named:
                var templates = named.OfType<JsonObject>().ToDictionary(
                    t => (string?)t["name"] ?? throw new InvalidDataException($"{configPath}: a chat template without a name"),
                    t => (string?)t["template"] ?? throw new InvalidDataException($"{configPath}: chat template '{t["name"]}' has no text"));
                if (!templates.TryGetValue("default", out var defaultSource))
                    throw new InvalidDataException($"{configPath}: several chat templates ({string.Join(", ", templates.Keys.Order())}) and none named 'default'");
                var toolUse = templates.TryGetValue("tool_use", out var toolSource) ? Template.Parse(toolSource, "tokenizer_config.json (tool_use)") : null;
                return new HfChatTemplate(defaultSource, Template.Parse(defaultSource, "tokenizer_config.json (default)"), toolUse, bos, eos);
            default:
                return null;
        }
    }

    static JsonObject ReadJsonObject(string path)
    {
        try { return JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: {e.Message}", e); }
    }

    /// <summary>A special token written as a string or as an AddedToken object with "content".</summary>
    internal static string? TokenText(JsonNode? token) => token switch
    {
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonObject o => (string?)o["content"],
        _ => null,
    };

    /// <summary>
    /// The conversation as the model reads it. <paramref name="messages"/> holds {role, content} objects (content a
    /// string or a list of parts such as {"type": "image"} and {"type": "text", "text": ...}); members of
    /// <paramref name="extraContext"/> (tools, enable_thinking, ...) become variables too.
    /// </summary>
    public string Apply(JsonArray messages, bool addGenerationPrompt, JsonObject? extraContext = null)
    {
        var variables = new Dictionary<string, object?>
        {
            ["messages"] = PythonValues.FromJson(messages),
            ["tools"] = null,
            ["documents"] = null,
            ["add_generation_prompt"] = addGenerationPrompt,
        };
        if (BosToken != null) variables["bos_token"] = BosToken;
        if (EosToken != null) variables["eos_token"] = EosToken;
        if (extraContext != null)
            foreach (var (key, value) in extraContext) variables[key] = PythonValues.FromJson(value);
        var template = _toolUse != null && variables["tools"] != null ? _toolUse : _template;
        return template.Render(variables);
    }
}
