using System.Collections;
using System.Globalization;
using System.Text.Json.Nodes;
using Ril.Data.Images;
using Ril.Text;

namespace Ril.Data;

/// <summary>
/// The one mapping of a dataset row's fields to a <see cref="DatasetRow"/>, whatever the file format: JSONL and Parquet
/// readers hand it the row as names and plain values (text, numbers, booleans, binary, structs as dictionaries, lists)
/// and it applies <see cref="DatasetKeys"/>: question, answer, solution and images, an optional <c>id</c>, and a
/// <c>messages</c> conversation for SFT. Images are an Image struct (<c>bytes</c> and <c>path</c>), binary, a path below
/// the dataset's folder or a data URL, or a list of these. Errors name the file, the row (and row group) and the field.
/// The rules: docs/spec/DATASETS.md §1 (fields and keys), §2 (image values), §4 (conversations).
/// </summary>
internal sealed class RowMapping(DatasetKeys keys, string file, ImageMode images)
{
    /// <summary>The field holding a conversation (OpenAI's and Hugging Face's name).</summary>
    public const string MessagesField = "messages";

    readonly string _folder = Path.GetDirectoryName(file)!;
    readonly string _stem = Path.GetFileNameWithoutExtension(file);

    public DatasetKeys Keys => keys;

    /// <summary>The image field: the key's, else <c>image</c> when the row (or file) has one, else <c>images</c> when it has that.</summary>
    public string? ImageFieldOf(Func<string, bool> has) => keys.Image ?? (has("image") ? "image" : has("images") ? "images" : null);

    /// <summary>A JSON number as written ("3.50" stays "3.50" as a text value).</summary>
    public sealed record NumberText(string Text);

    /// <summary>
    /// The row of <paramref name="values"/> found at <paramref name="line"/> (JSONL: its line, from 1; Parquet: its
    /// index in the file, from 0, in <paramref name="rowGroup"/>). <paramref name="extraOf"/> gives the fields the keys do
    /// not name as JSON (null: left out).
    /// </summary>
    public DatasetRow Map(IReadOnlyDictionary<string, object?> values, int line, int? rowGroup, string? imageField, Func<string, JsonNode?> extraOf)
    {
        var origin = new DatasetRow("", "", "", null, null, [], file, line) { RowGroup = rowGroup };
        DataFormatException Bad(string field, string problem) => origin.Error(field, problem);

        string? Text(string field, bool required, string? role = null)
        {
            // A Parquet file declares its columns (checked before its rows are read) and its reader leaves nulls out.
            bool present = values.TryGetValue(field, out var value) || rowGroup != null;
            return value switch
            {
                null when required => throw Bad(field, present ? "missing (null)"
                    : $"missing (name the {role} field with --{role}-key or data.{role}_key if it has another name)"),
                null => null,
                string s => s,
                NumberText n => n.Text,
                long or int or short or sbyte or byte or ulong or uint or ushort or double or float or decimal => Convert.ToString(value, CultureInfo.InvariantCulture),
                _ => throw Bad(field, $"expected text or a number, found {Describe(value)}"),
            };
        }

        bool conversation = values.TryGetValue(MessagesField, out var messagesValue) && messagesValue != null;
        var id = values.ContainsKey("id") ? Text("id", required: true)! : $"{_stem}/{line}";
        var question = Text(keys.Question, required: !conversation, "question") ?? "";
        var answer = Text(keys.Answer, required: !conversation, "answer") ?? "";
        var solution = Text(keys.Solution, required: false);

        // The image field's images, in order; in TextOnly mode only named (ImageField), never read.
        var found = new List<RowImage>();
        var written = new List<string>();
        if (imageField != null && values.TryGetValue(imageField, out var imageValue) && imageValue != null)
        {
            bool listed = imageValue is IEnumerable and not IDictionary and not byte[] and not string;
            var items = listed ? ((IEnumerable)imageValue).Cast<object?>().ToList() : [imageValue];
            for (int i = 0; i < items.Count; i++)
                if (Image(items[i], listed ? $"{imageField}[{i}]" : imageField, origin) is var (image, name))
                {
                    written.Add(name ?? $"{imageField}[{i}]");
                    if (image != null) found.Add(image);
                }
        }

        IReadOnlyList<ChatMessage>? messages = null;
        if (conversation) (messages, found) = Conversation(messagesValue!, found, imageField ?? "images", origin);

        var extra = new JsonObject();
        foreach (var key in values.Keys)
            if (key != keys.Question && key != keys.Answer && key != keys.Solution && key != "id" && key != imageField && key != MessagesField && extraOf(key) is { } node)
                extra[key] = node;
        return new DatasetRow(id, question, answer, solution, found.FirstOrDefault()?.Path, extra, file, line)
        {
            ImageField = written.Count > 0 ? written[0] : null,
            Images = found, Messages = messages, RowGroup = rowGroup, ImageColumn = imageField ?? "image",
        };
    }

    /// <summary>
    /// One image value: the image (null in TextOnly mode) and the name it was written under (its path; null when it has
    /// none); null for a null value.
    /// </summary>
    (RowImage? Image, string? Name)? Image(object? value, string field, DatasetRow origin)
    {
        DataFormatException Bad(string problem) => origin.Error(field, problem);
        var (bytes, path) = value switch
        {
            null => (null, null),
            byte[] b => (b, null),
            string s => (null, s),
            IDictionary image => (
                Field(image, "bytes") switch { null => null, byte[] b => b, var b => throw origin.Error(field + ".bytes", $"expected binary, found {Describe(b)}") },
                Field(image, "path") switch { null => null, string s => s, var p => throw origin.Error(field + ".path", $"expected text, found {Describe(p)}") }),
            _ => throw Bad($"expected a string (a path or a data URL), an Image (a struct of bytes and path) or binary, found {Describe(value)}"),
        };
        if (bytes is null && path is { Length: 0 }) path = null;
        if (bytes is null && path is null) return null;
        bool dataUrl = bytes is null && path!.StartsWith("data:", StringComparison.OrdinalIgnoreCase);
        if (images == ImageMode.TextOnly) return (null, dataUrl ? null : path);
        if (dataUrl) (bytes, path) = (DataUrl(path!, Bad), null);
        else if (bytes is null && (path!.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || path.StartsWith("https://", StringComparison.OrdinalIgnoreCase)))
            throw Bad($"'{Shorten(path)}' is a web address; Ril reads images from the dataset (bytes, a file below its folder, or a data URL), it does not download them");
        if (bytes is null)
        {
            // A path names a file beside the dataset, as MAYE's JSONL and datasets' local Parquet files write them.
            var resolved = JsonlDataset.ImageBelow(_folder, path!)
                ?? throw Bad($"'{path}' is outside the dataset's folder {_folder}; images must lie below it (copy or link them there)");
            if (!File.Exists(resolved)) throw MissingImage(path!, resolved, Bad);
            return (new RowImage(null, resolved), path);
        }
        if (!PngDecoder.HasSignature(bytes) && !Jpeg.HasSignature(bytes))
            throw Bad(bytes.Length == 0 ? "the image's bytes are empty" : "the image's bytes are neither PNG nor JPEG");
        return (new RowImage(bytes, null), path);
    }

    static byte[] DataUrl(string url, Func<string, DataFormatException> bad)
    {
        int comma = url.IndexOf(',');
        if (comma < 0 || !url[..comma].EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
            throw bad($"'{Shorten(url)}' is not a base64 data URL (data:image/png;base64,…)");
        try { return System.Convert.FromBase64String(url[(comma + 1)..]); }
        catch (FormatException e) { throw bad($"the data URL's base64 is invalid ({e.Message})"); }
    }

    static DataFormatException MissingImage(string field, string resolved, Func<string, DataFormatException> bad)
    {
        var imageFolder = Path.GetDirectoryName(resolved)!;
        var hint = Directory.Exists(imageFolder)
            ? ""
            : $". The folder {imageFolder} does not exist: this dataset's images are not here (MAYE's JSONL files are often shared without them). " +
              "Put the images there, or load text-only (ImageMode.TextOnly; on the command line, --text-only) to use the questions without images";
        return bad($"image file '{field}' not found (looked for {resolved}){hint}");
    }

    /// <summary>
    /// A conversation: a list of {role, content} with content as text (its <c>&lt;image&gt;</c> markers each taking the next
    /// image of the image field) or a list of parts {type: text | image | image_url, …}. An image part that carries its
    /// image (<c>image</c>, <c>path</c>, <c>url</c>, <c>bytes</c>, <c>image_url.url</c>) uses it; one that does not takes
    /// the next image of the image field, all of which must be used. Returns the messages and the images in the order
    /// their markers stand.
    /// </summary>
    (IReadOnlyList<ChatMessage>, List<RowImage>) Conversation(object value, List<RowImage> column, string imageField, DatasetRow origin)
    {
        const string marker = ChatTemplate.DefaultImageMarker;
        if (value is not IEnumerable list || value is string or IDictionary or byte[])
            throw origin.Error(MessagesField, $"expected a list of messages ({{role, content}}), found {Describe(value)}");
        var messages = new List<ChatMessage>();
        var ordered = new List<RowImage>();
        int nextFromColumn = 0, references = 0;
        void FromColumn()
        {
            references++;
            if (nextFromColumn < column.Count) ordered.Add(column[nextFromColumn]);
            nextFromColumn++;
        }

        int m = 0;
        foreach (var item in list)
        {
            var at = $"{MessagesField}[{m}]";
            if (item is not IDictionary message) throw origin.Error(at, $"expected a message ({{role, content}}), found {Describe(item)}");
            if (Field(message, "role") is not string role || role.Length == 0 || role.Any(char.IsWhiteSpace))
                throw origin.Error(at + ".role", "expected a role (system, user, assistant, …)");
            var content = new System.Text.StringBuilder();
            switch (Field(message, "content"))
            {
                case null: break;
                case string text:
                    content.Append(text);
                    for (int k = text.Split(marker).Length - 1; k > 0; k--) FromColumn();
                    break;
                case IEnumerable parts and not IDictionary and not byte[]:
                    int p = 0;
                    foreach (var part in parts)
                    {
                        var partAt = $"{at}.content[{p++}]";
                        if (part is not IDictionary fields) throw origin.Error(partAt, $"expected a part ({{type, …}}), found {Describe(part)}");
                        switch (Field(fields, "type"))
                        {
                            case "text":
                                content.Append(Field(fields, "text") switch { null => "", string s => s, var t => throw origin.Error(partAt + ".text", $"expected text, found {Describe(t)}") });
                                break;
                            case "image" or "image_url":
                                var source = Field(fields, "image") ?? Field(fields, "path") ?? Field(fields, "url") ?? Field(fields, "bytes")
                                    ?? (Field(fields, "image_url") is var url && url is IDictionary u ? Field(u, "url") : url);
                                content.Append(marker);
                                if (source is null) FromColumn();
                                else if (Image(source, partAt, origin) is ({ } image, _)) ordered.Add(image);
                                else if (images == ImageMode.Require) throw origin.Error(partAt, "the image part's image is empty");
                                break;
                            case var type:
                                throw origin.Error(partAt + ".type", $"expected text, image or image_url, found {(type is string named ? $"'{named}'" : Describe(type ?? "null"))}");
                        }
                    }
                    break;
                case var other:
                    throw origin.Error(at + ".content", $"expected text or a list of parts, found {Describe(other)}");
            }
            messages.Add(new ChatMessage(role, content.ToString()));
            m++;
        }
        if (messages.Count == 0) throw origin.Error(MessagesField, "the conversation is empty");
        if (images == ImageMode.Require && references != column.Count)
            throw origin.Error(imageField, $"the messages stand for {references} image(s) of '{imageField}' ({marker} markers and image parts without their own image), but it has {column.Count}");
        return (messages, ordered);
    }

    /// <summary>A struct's field (a Parquet struct or a JSON object, both dictionaries); null when absent.</summary>
    static object? Field(IDictionary fields, string name) => fields.Contains(name) ? fields[name] : null;

    static string Shorten(string text) => text.Length <= 40 ? text : text[..37] + "...";

    public static string Describe(object value) => value switch
    {
        string => "text",
        NumberText or long or int or short or sbyte or byte or ulong or uint or ushort or double or float or decimal => "a number",
        bool => "a boolean",
        IDictionary => "a struct",
        byte[] => "binary",
        IEnumerable => "a list",
        _ => value.GetType().Name,
    };

    /// <summary>A JSON value as the plain values <see cref="Map"/> reads: objects as dictionaries, arrays as lists.</summary>
    public static object? Plain(JsonNode? node) => node switch
    {
        null => null,
        JsonObject obj => obj.ToDictionary(kv => kv.Key, kv => Plain(kv.Value)),
        JsonArray array => array.Select(Plain).ToList(),
        JsonValue value => value.GetValueKind() switch
        {
            System.Text.Json.JsonValueKind.String => value.GetValue<string>(),
            System.Text.Json.JsonValueKind.Number => new NumberText(value.ToJsonString()),
            System.Text.Json.JsonValueKind.True => true,
            System.Text.Json.JsonValueKind.False => false,
            _ => null,
        },
        _ => null,
    };
}
