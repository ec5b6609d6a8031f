using System.Text.Json.Nodes;
using Ril.Data.Images;

namespace Ril.Data;

/// <summary>
/// One question of a MAYE-format dataset. <see cref="ImagePath"/> is resolved against the JSONL file's
/// folder (null for a text-only row, or when loaded text-only); every field other than the five MAYE
/// ones (think_solution, difficulty, knowledge, scene, …) is kept in <see cref="Extra"/>.
/// </summary>
public sealed record DatasetRow(
    string Id,
    string Question,
    string Answer,
    string? Solution,
    string? ImagePath,
    JsonObject Extra,
    string SourceFile,
    int LineNumber)
{
    /// <summary>The image as written in the file (relative), even when loaded text-only; null for text-only rows.</summary>
    public string? ImageField { get; init; }

    /// <summary>
    /// The row's images as encoded in the dataset (PNG or JPEG bytes), for datasets that carry their images (Parquet's
    /// <c>Image</c> feature); null for rows whose image is a file (<see cref="ImagePath"/>) or that have none.
    /// </summary>
    public IReadOnlyList<byte[]>? ImageBytes { get; init; }

    /// <summary>The row group a Parquet row came from (then <see cref="LineNumber"/> is the row's index in the file, from 0); null for JSONL.</summary>
    public int? RowGroup { get; init; }

    /// <summary>The column (or field) the images came from, as errors name it.</summary>
    public string ImageColumn { get; init; } = "image";

    public bool HasImage => ImagePath != null || ImageBytes is { Count: > 0 };

    /// <summary>Where this row came from, as errors quote it: "file.jsonl:17", or "file.parquet: row group 1, row 17".</summary>
    public string Location => RowGroup is { } group ? $"{Path.GetFileName(SourceFile)}: row group {group}, row {LineNumber}" : $"{Path.GetFileName(SourceFile)}:{LineNumber}";

    /// <summary>The row's (first) image, decoded with the decoders' bounds; errors name the file, the row (and row group) and the column.</summary>
    public Image LoadImage()
    {
        if (ImageBytes is { Count: > 0 } encoded) return Decode(encoded[0], 0);
        if (ImagePath == null) throw new InvalidOperationException($"{Location}: row '{Id}' has no image");
        try { return ImageFile.Load(ImagePath); }
        catch (Exception e) when (e is ImageFormatException or FileNotFoundException)
        {
            throw new DataFormatException(SourceFile, LineNumber, "image", e.Message, e);
        }
    }

    /// <summary>Every image of the row, decoded (none for a text-only row).</summary>
    public IReadOnlyList<Image> LoadImages() =>
        ImageBytes is { } encoded ? encoded.Select(Decode).ToList() : ImagePath != null ? [LoadImage()] : [];

    Image Decode(byte[] encoded, int index)
    {
        try { return ImageFile.Decode(encoded); }
        catch (ImageFormatException e)
        {
            var column = ImageBytes!.Count > 1 ? $"{ImageColumn}[{index}]" : ImageColumn;
            throw RowGroup is { } group
                ? new DataFormatException(SourceFile, group, LineNumber, column, e.Message, e)
                : new DataFormatException(SourceFile, LineNumber, column, e.Message, e);
        }
    }
}

/// <summary>
/// Bad dataset input. The message reads "file.jsonl:17: field 'question': expected a string", so a
/// user can open the file at the line and fix the field; for Parquet, "file.parquet: row group 1, row 17: column
/// 'question': missing (null)".
/// </summary>
public sealed class DataFormatException : Exception
{
    public string File { get; }
    /// <summary>The line (JSONL, from 1) or the row's index in the file (Parquet, from 0).</summary>
    public int Line { get; }
    public string? Field { get; }
    /// <summary>The Parquet row group (from 0); null for JSONL.</summary>
    public int? RowGroup { get; }

    public DataFormatException(string file, int line, string? field, string problem, Exception? inner = null)
        : base(Format(file, line, field, problem), inner)
    {
        File = file; Line = line; Field = field;
    }

    /// <summary>A bad value in a Parquet file: <paramref name="row"/> is the row's index in the file, <paramref name="column"/> the column (null: the whole row group).</summary>
    public DataFormatException(string file, int rowGroup, int row, string? column, string problem, Exception? inner = null)
        : base($"{Path.GetFileName(file)}: row group {rowGroup}{(row >= 0 ? $", row {row}" : "")}: {(column != null ? $"column '{column}': " : "")}{problem}", inner)
    {
        File = file; Line = row; Field = column; RowGroup = rowGroup;
    }

    static string Format(string file, int line, string? field, string problem) =>
        $"{Path.GetFileName(file)}{(line > 0 ? $":{line}" : "")}: {(field != null ? $"field '{field}': " : "")}{problem}";
}
