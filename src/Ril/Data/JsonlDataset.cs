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
/// JSONL datasets: one object a line, its fields mapped by <see cref="DatasetKeys"/> exactly as Parquet columns are
/// (<see cref="RowMapping"/>): by default MAYE's <c>question</c>, <c>answer</c>, <c>solution</c>, <c>id</c> and
/// <c>image</c> (a path relative to the file, or <c>images</c>: a list of them; data URLs too), or a <c>messages</c>
/// conversation; other fields are kept. Rows stream lazily; a bad line stops the enumeration at that line with a
/// <see cref="DataFormatException"/>.
/// </summary>
public static class JsonlDataset
{
    public static IEnumerable<DatasetRow> Read(string path, ImageMode images = ImageMode.Require) => Read(path, null, images);

    public static IEnumerable<DatasetRow> Read(string path, DatasetKeys? keys, ImageMode images = ImageMode.Require)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"dataset file not found: {path}", path);
        var mapping = new RowMapping(keys ?? DatasetKeys.Maye, Path.GetFullPath(path), images);
        var ids = new HashSet<string>(StringComparer.Ordinal);
        using var reader = new StreamReader(path, Encoding.UTF8);
        int lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            var row = ParseLine(line, path, lineNumber, mapping);
            if (!ids.Add(row.Id))
                throw new DataFormatException(path, lineNumber, "id", $"duplicate id '{row.Id}' (ids must be unique within a file)");
            yield return row;
        }
    }

    public static List<DatasetRow> Load(string path, ImageMode images = ImageMode.Require) => Read(path, images).ToList();

    public static List<DatasetRow> Load(string path, DatasetKeys? keys, ImageMode images = ImageMode.Require) => Read(path, keys, images).ToList();

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

    static DatasetRow ParseLine(string line, string path, int lineNumber, RowMapping mapping)
    {
        JsonNode? node;
        try { node = JsonNode.Parse(line); }
        catch (JsonException e)
        {
            throw new DataFormatException(path, lineNumber, null, $"invalid JSON ({e.Message.Split(" LineNumber")[0].TrimEnd('.')}, column {e.BytePositionInLine + 1})", e);
        }
        if (node is not JsonObject obj) throw new DataFormatException(path, lineNumber, null, "expected a JSON object");
        var values = obj.ToDictionary(kv => kv.Key, kv => RowMapping.Plain(kv.Value), StringComparer.Ordinal);
        // A JSON row has no schema: the image field is the key's, else whichever of image and images the row has.
        return mapping.Map(values, lineNumber, null, mapping.ImageFieldOf(values.ContainsKey), key => obj[key]?.DeepClone());
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
