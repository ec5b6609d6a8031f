using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ril.Data;

/// <summary>How a loader treats each row's <c>image</c> field.</summary>
public enum ImageMode
{
    /// <summary>Every image named must exist; a missing one stops the load with both paths in the message.</summary>
    Require,
    /// <summary>Images are ignored (rows keep the field in <see cref="DatasetRow.ImageField"/>): for datasets shipped without them, or text-only training.</summary>
    TextOnly,
}

/// <summary>
/// MAYE's JSONL format: one object a line with <c>question</c>, <c>answer</c>, <c>solution</c>,
/// <c>id</c>, <c>image</c> (relative to the file); other fields are kept. Rows stream lazily; a bad
/// line stops the enumeration at that line with a <see cref="DataFormatException"/>.
/// </summary>
public static class JsonlDataset
{
    static readonly HashSet<string> MayeFields = ["question", "answer", "solution", "id", "image"];

    public static IEnumerable<DatasetRow> Read(string path, ImageMode images = ImageMode.Require)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"dataset file not found: {path}", path);
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var ids = new HashSet<string>(StringComparer.Ordinal);
        using var reader = new StreamReader(path, Encoding.UTF8);
        int lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var row = ParseLine(line, path, lineNumber, folder, images);
            if (!ids.Add(row.Id))
                throw new DataFormatException(path, lineNumber, "id", $"duplicate id '{row.Id}' (ids must be unique within a file)");
            yield return row;
        }
    }

    public static List<DatasetRow> Load(string path, ImageMode images = ImageMode.Require) => Read(path, images).ToList();

    /// <summary>
    /// The full path of a dataset's image, or null when it is outside the dataset's folder: a dataset names images beside
    /// it, and an absolute path or one that climbs out with ../ could read (and, through `teachers collect`, upload) any
    /// file of the machine.
    /// </summary>
    public static string? ImageBelow(string folder, string imageField)
    {
        if (imageField.Contains('\0')) return null;   // not a path any file system has
        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)) + Path.DirectorySeparatorChar;
        var resolved = Path.GetFullPath(Path.Combine(folder, imageField));
        return resolved.StartsWith(root, StringComparison.Ordinal) ? resolved : null;
    }

    static DatasetRow ParseLine(string line, string path, int lineNumber, string folder, ImageMode images)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(line); }
        catch (JsonException e)
        {
            throw new DataFormatException(path, lineNumber, null, $"invalid JSON ({e.Message.Split(" LineNumber")[0].TrimEnd('.')}, column {e.BytePositionInLine + 1})", e);
        }
        if (node is not JsonObject obj) throw new DataFormatException(path, lineNumber, null, "expected a JSON object");

        string id = RequiredText(obj, "id", path, lineNumber, allowNumber: true);
        string question = RequiredText(obj, "question", path, lineNumber, allowNumber: false);
        string answer = RequiredText(obj, "answer", path, lineNumber, allowNumber: true);
        string? solution = OptionalText(obj, "solution", path, lineNumber);
        string? imageField = OptionalText(obj, "image", path, lineNumber);
        if (imageField is { Length: 0 }) imageField = null;

        string? imagePath = null;
        if (imageField != null && images == ImageMode.Require)
        {
            imagePath = ImageBelow(folder, imageField) ?? throw new DataFormatException(path, lineNumber, "image",
                $"'{imageField}' is outside the dataset's folder {Path.GetFullPath(folder)}; images must lie below it (copy or link them there)");
            if (!File.Exists(imagePath)) throw MissingImage(path, lineNumber, imageField, imagePath);
        }

        var extra = new JsonObject();
        foreach (var (key, value) in obj.ToList())
            if (!MayeFields.Contains(key))
            {
                obj.Remove(key);
                extra[key] = value;
            }
        return new DatasetRow(id, question, answer, solution, imagePath, extra, Path.GetFullPath(path), lineNumber) { ImageField = imageField };
    }

    static DataFormatException MissingImage(string path, int lineNumber, string field, string resolved)
    {
        var imageFolder = Path.GetDirectoryName(resolved)!;
        var hint = Directory.Exists(imageFolder)
            ? ""
            : $". The folder {imageFolder} does not exist: this dataset's images are not here (MAYE's JSONL files are often shared without them). " +
              "Put the images there, or load text-only (ImageMode.TextOnly; on the command line, --text-only) to use the questions without images";
        return new DataFormatException(path, lineNumber, "image", $"image file '{field}' not found (looked for {resolved}){hint}");
    }

    static string RequiredText(JsonObject obj, string field, string path, int line, bool allowNumber)
    {
        if (!obj.TryGetPropertyValue(field, out var node) || node == null)
            throw new DataFormatException(path, line, field, "missing (every row needs question, answer and id)");
        return Text(node, field, path, line, allowNumber);
    }

    static string? OptionalText(JsonObject obj, string field, string path, int line) =>
        obj.TryGetPropertyValue(field, out var node) && node != null ? Text(node, field, path, line, allowNumber: false) : null;

    static string Text(JsonNode node, string field, string path, int line, bool allowNumber)
    {
        if (node is JsonValue value)
        {
            if (value.GetValueKind() == JsonValueKind.String) return value.GetValue<string>();
            if (allowNumber && value.GetValueKind() == JsonValueKind.Number) return value.ToJsonString();
        }
        var kind = node.GetValueKind().ToString().ToLowerInvariant();
        throw new DataFormatException(path, line, field, $"expected a string{(allowNumber ? " or a number" : "")}, found {kind}");
    }

    /// <summary>A new list in a seeded order (Fisher–Yates; <see cref="Random"/> with a seed is stable across .NET versions).</summary>
    public static List<T> Shuffle<T>(IEnumerable<T> rows, int seed)
    {
        var list = rows.ToList();
        var random = new Random(seed);
        for (int i = list.Count - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
        return list;
    }

    /// <summary>Shuffles by seed and cuts: the first <paramref name="firstFraction"/> of the rows, then the rest.</summary>
    public static (List<T> First, List<T> Remainder) Split<T>(IEnumerable<T> rows, double firstFraction, int seed)
    {
        if (firstFraction is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(firstFraction), "must be within 0–1");
        var shuffled = Shuffle(rows, seed);
        int cut = (int)Math.Round(shuffled.Count * firstFraction);
        return (shuffled[..cut], shuffled[cut..]);
    }

    /// <summary>A row as one JSONL line, MAYE fields first, then the extra fields in their order.</summary>
    public static string ToJsonLine(string id, string question, string answer, string? solution, string? image, JsonObject? extra = null)
    {
        var obj = new JsonObject { ["question"] = question, ["answer"] = answer };
        if (solution != null) obj["solution"] = solution;
        obj["id"] = id;
        if (image != null) obj["image"] = image;
        if (extra != null)
            foreach (var (key, value) in extra) obj[key] = value?.DeepClone();
        return obj.ToJsonString(Compact);
    }

    public static string ToJsonLine(DatasetRow row) =>
        ToJsonLine(row.Id, row.Question, row.Answer, row.Solution, row.ImageField, row.Extra);

    /// <summary>Non-ASCII text stays readable, as in MAYE's files; one line per row.</summary>
    internal static readonly JsonSerializerOptions Compact = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        WriteIndented = false,
    };
}
