using System.Text.Json;

namespace Ril.Text;

/// <summary>
/// A JSON value together with its path from the document root, so that every "expected a string"
/// names the file and the field ("model.merges[3]") the way users look them up.
/// </summary>
readonly struct JsonField(JsonElement value, string path, string file)
{
    public JsonElement Value => value;
    public string Path => path;
    public JsonValueKind Kind => value.ValueKind;
    public bool IsNull => value.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined;

    public TokenizerFormatException Error(string problem) => new(file, path, problem);

    public static JsonField Root(JsonElement root, string file) => new(root, "", file);

    string Child(string name) => path.Length == 0 ? name : $"{path}.{name}";

    /// <summary>A required member.</summary>
    public JsonField this[string name]
    {
        get
        {
            var obj = Object();
            return obj.TryGetProperty(name, out var child) ? new JsonField(child, Child(name), file)
                : throw new TokenizerFormatException(file, Child(name), "missing");
        }
    }

    /// <summary>An optional member; null and absence read the same.</summary>
    public bool TryGet(string name, out JsonField field)
    {
        if (Object().TryGetProperty(name, out var child) && child.ValueKind != JsonValueKind.Null)
        {
            field = new JsonField(child, Child(name), file);
            return true;
        }
        field = default;
        return false;
    }

    public JsonElement Object() =>
        value.ValueKind == JsonValueKind.Object ? value : throw Error($"expected an object, found {Describe(value)}");

    public IEnumerable<JsonField> Items()
    {
        if (value.ValueKind != JsonValueKind.Array) throw Error($"expected an array, found {Describe(value)}");
        int i = 0;
        foreach (var item in value.EnumerateArray()) yield return new JsonField(item, $"{path}[{i++}]", file);
    }

    public string String() =>
        value.ValueKind == JsonValueKind.String ? value.GetString()! : throw Error($"expected a string, found {Describe(value)}");

    public int Int() =>
        value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var v) ? v
            : throw Error($"expected an integer, found {Describe(value)}");

    public bool Bool() =>
        value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.GetBoolean()
            : throw Error($"expected true or false, found {Describe(value)}");

    public string? OptionalString(string name) => TryGet(name, out var f) ? f.String() : null;
    public bool OptionalBool(string name, bool fallback) => TryGet(name, out var f) ? f.Bool() : fallback;

    static string Describe(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => $"the string \"{Shorten(e.GetString()!)}\"",
        JsonValueKind.Number => $"the number {e.GetRawText()}",
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        JsonValueKind.True or JsonValueKind.False => e.GetRawText(),
        _ => "null",
    };

    static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "…";
}
