using System.Collections;
using System.Globalization;
using System.Text.Json.Nodes;
using Parquet;
using Parquet.Schema;
using Parquet.Serialization;
using Ril.Data.Images;

namespace Ril.Data;

/// <summary>
/// Hugging Face datasets stored as Parquet: one row a question, its columns named by <see cref="DatasetKeys"/>, its
/// images in the <c>Image</c> feature (a struct of <c>bytes</c> and <c>path</c>, a list of them, or plain binary).
/// Streams one row group at a time, so a dataset larger than memory is never held whole. An <c>id</c> column is used
/// when there is one, else rows are named <c>file-stem/row</c>; other text, number and boolean columns go to
/// <see cref="DatasetRow.Extra"/>. Errors name the file, the row group, the row (its index in the file, from 0) and
/// the column.
/// </summary>
public static class ParquetDataset
{
    public static IEnumerable<DatasetRow> Read(string path, DatasetKeys? keys = null, ImageMode images = ImageMode.Require)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"dataset file not found: {path}", path);
        keys ??= DatasetKeys.Maye;
        var fullPath = Path.GetFullPath(path);
        using var stream = File.OpenRead(fullPath);
        ParquetSchema schema;
        int rowGroups;
        try
        {
            (schema, rowGroups) = Run(async () =>
            {
                await using var reader = await ParquetReader.CreateAsync(stream, leaveStreamOpen: true);
                return (reader.Schema, reader.RowGroupCount);
            });
        }
        catch (Exception e) when (e is not DataFormatException and not OperationCanceledException)
        {
            throw new DataFormatException(fullPath, 0, null, $"not a readable Parquet file ({e.Message})", e);
        }
        var columns = schema.Fields.Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
        Require(columns, keys.Question, "question", "--question-key", fullPath);
        Require(columns, keys.Answer, "answer", "--answer-key", fullPath);
        string? imageColumn = keys.Image ?? (columns.Contains("image") ? "image" : columns.Contains("images") ? "images" : null);
        if (keys.Image != null) Require(columns, keys.Image, "image", "--image-key", fullPath);
        var mapped = new HashSet<string>([keys.Question, keys.Answer, keys.Solution, "id", .. imageColumn is null ? Array.Empty<string>() : [imageColumn]], StringComparer.Ordinal);
        var folder = Path.GetDirectoryName(fullPath)!;
        var stem = Path.GetFileNameWithoutExtension(fullPath);

        // Ids of an id column must be unique, as in JSONL (outputs and breakdowns are keyed by them); generated ones are.
        var ids = columns.Contains("id") ? new HashSet<string>(StringComparer.Ordinal) : null;
        int rowIndex = 0;
        for (int group = 0; group < rowGroups; group++)
        {
            IList<Dictionary<string, object>> rows;
            try { rows = Run(() => ParquetSerializer.DeserializeUntypedAsync(stream, null, group)).Data; }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new DataFormatException(fullPath, group, -1, null, $"cannot read this row group ({e.Message})", e);
            }
            foreach (var values in rows)
            {
                var row = ToRow(values, keys, imageColumn, mapped, images, fullPath, folder, stem, group, rowIndex);
                if (ids != null && !ids.Add(row.Id))
                    throw new DataFormatException(fullPath, group, rowIndex, "id", $"duplicate id '{row.Id}' (ids must be unique within a file)");
                rowIndex++;
                yield return row;
            }
            rows.Clear();
        }
    }

    public static List<DatasetRow> Load(string path, DatasetKeys? keys = null, ImageMode images = ImageMode.Require) => Read(path, keys, images).ToList();

    static T Run<T>(Func<Task<T>> read) => Task.Run(read).GetAwaiter().GetResult();

    static void Require(HashSet<string> columns, string column, string role, string option, string file)
    {
        if (!columns.Contains(column))
            throw new DataFormatException(file, 0, null,
                $"no column '{column}' for the {role} (the columns are {string.Join(", ", columns.Order(StringComparer.Ordinal))}); name the {role} column with {option} or data.{role}_key");
    }

    static DatasetRow ToRow(Dictionary<string, object> values, DatasetKeys keys, string? imageColumn, HashSet<string> mapped, ImageMode images,
        string file, string folder, string stem, int group, int row)
    {
        DataFormatException Bad(string column, string problem) => new(file, group, row, column, problem);

        string? Text(string column, bool required)
        {
            values.TryGetValue(column, out var value);
            return value switch
            {
                null when required => throw Bad(column, "missing (null)"),
                null => null,
                string s => s,
                long or int or short or sbyte or byte or ulong or uint or ushort or double or float or decimal => Convert.ToString(value, CultureInfo.InvariantCulture),
                _ => throw Bad(column, $"expected text or a number, found {Describe(value)}"),
            };
        }

        var id = values.ContainsKey("id") ? Text("id", required: true)! : $"{stem}/{row}";
        var question = Text(keys.Question, required: true)!;
        var answer = Text(keys.Answer, required: true)!;
        var solution = Text(keys.Solution, required: false);

        List<byte[]>? encoded = null;
        List<string>? imagePaths = null;
        if (imageColumn != null && values.TryGetValue(imageColumn, out var imageValue) && imageValue != null)
        {
            var items = imageValue is IDictionary or byte[] or string ? [imageValue] : imageValue is IEnumerable list ? list.Cast<object?>().ToList() : [imageValue];
            for (int i = 0; i < items.Count; i++)
            {
                var column = items.Count > 1 || imageValue is IEnumerable and not IDictionary and not byte[] and not string ? $"{imageColumn}[{i}]" : imageColumn;
                var (bytes, imagePath) = ImageParts(items[i], column, Bad);
                if (bytes is null && imagePath is null) continue;
                (imagePaths ??= []).Add(imagePath ?? "");
                if (images == ImageMode.TextOnly) continue;
                if (bytes is null)
                {
                    // An Image without bytes points at a file: beside the Parquet file, as datasets writes them locally.
                    var resolved = JsonlDataset.ImageBelow(folder, imagePath!)
                        ?? throw Bad(column, $"the image's path '{imagePath}' is outside the dataset's folder; images must lie below it");
                    if (!File.Exists(resolved))
                        throw Bad(column, $"the image has no bytes, and its path '{imagePath}' is not a file (looked for {resolved})");
                    bytes = File.ReadAllBytes(resolved);
                }
                if (!PngDecoder.HasSignature(bytes) && !Jpeg.HasSignature(bytes))
                    throw Bad(column, bytes.Length == 0 ? "the image's bytes are empty" : "the image's bytes are neither PNG nor JPEG");
                (encoded ??= []).Add(bytes);
            }
        }

        var extra = new JsonObject();
        foreach (var (key, value) in values)
            if (!mapped.Contains(key) && ToJson(value) is { } node) extra[key] = node;
        var firstPath = imagePaths?.FirstOrDefault(p => p.Length > 0);
        return new DatasetRow(id, question, answer, solution, null, extra, file, row)
        {
            ImageField = firstPath ?? (imagePaths != null ? $"{imageColumn}[0]" : null),
            ImageBytes = encoded, RowGroup = group, ImageColumn = imageColumn ?? "image",
        };
    }

    static (byte[]? Bytes, string? Path) ImageParts(object? item, string column, Func<string, string, DataFormatException> bad) => item switch
    {
        null => (null, null),
        byte[] bytes => (bytes, null),
        string path => (null, path),
        IDictionary<string, object> image => (
            image.TryGetValue("bytes", out var b) ? b switch { null => null, byte[] bytes => bytes, _ => throw bad(column + ".bytes", $"expected binary, found {Describe(b)}") } : null,
            image.TryGetValue("path", out var p) ? p switch { null => null, string s => s, _ => throw bad(column + ".path", $"expected text, found {Describe(p)}") } : null),
        _ => throw bad(column, $"expected an Image (a struct of bytes and path), binary or a path, found {Describe(item)}"),
    };

    static JsonNode? ToJson(object? value) => value switch
    {
        string s => JsonValue.Create(s),
        bool b => JsonValue.Create(b),
        long l => JsonValue.Create(l),
        int i => JsonValue.Create(i),
        double d when double.IsFinite(d) => JsonValue.Create(d),
        float f when float.IsFinite(f) => JsonValue.Create(f),
        _ => null,
    };

    static string Describe(object value) => value switch
    {
        IDictionary => "a struct",
        byte[] => "binary",
        IEnumerable and not string => "a list",
        _ => value.GetType().Name,
    };
}
