using System.Text.Json.Nodes;
using Parquet;
using Parquet.Schema;
using Parquet.Serialization;

namespace Ril.Data;

/// <summary>
/// Hugging Face datasets stored as Parquet: one row a question (or a <c>messages</c> conversation), its columns mapped by
/// <see cref="RowMapping"/> as JSONL fields are, its images in the <c>Image</c> feature (a struct of <c>bytes</c> and
/// <c>path</c>, a list of them, or plain binary).
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
        // A conversation file (messages) needs no question or answer column.
        if (!columns.Contains(RowMapping.MessagesField))
        {
            Require(columns, keys.Question, "question", "--question-key", fullPath);
            Require(columns, keys.Answer, "answer", "--answer-key", fullPath);
        }
        if (keys.Image != null) Require(columns, keys.Image, "image", "--image-key", fullPath);
        var mapping = new RowMapping(keys, fullPath, images);
        string? imageColumn = mapping.ImageFieldOf(columns.Contains);

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
                var row = mapping.Map(values!, rowIndex, group, imageColumn, key => ToJson(values[key]));
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
}
