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

    public bool HasImage => ImagePath != null;

    /// <summary>Where this row came from, as errors quote it: "file.jsonl:17".</summary>
    public string Location => $"{Path.GetFileName(SourceFile)}:{LineNumber}";

    public Image LoadImage()
    {
        if (ImagePath == null) throw new InvalidOperationException($"{Location}: row '{Id}' has no image");
        try { return ImageFile.Load(ImagePath); }
        catch (Exception e) when (e is ImageFormatException or FileNotFoundException)
        {
            throw new DataFormatException(SourceFile, LineNumber, "image", e.Message, e);
        }
    }
}

/// <summary>
/// Bad dataset input. The message reads "file.jsonl:17: field 'question': expected a string", so a
/// user can open the file at the line and fix the field.
/// </summary>
public sealed class DataFormatException : Exception
{
    public string File { get; }
    public int Line { get; }
    public string? Field { get; }

    public DataFormatException(string file, int line, string? field, string problem, Exception? inner = null)
        : base(Format(file, line, field, problem), inner)
    {
        File = file; Line = line; Field = field;
    }

    static string Format(string file, int line, string? field, string problem) =>
        $"{Path.GetFileName(file)}:{line}: {(field != null ? $"field '{field}': " : "")}{problem}";
}
