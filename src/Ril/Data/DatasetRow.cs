using System.Text.Json.Nodes;
using Ril.Data.Images;

namespace Ril.Data;

/// <summary>
/// One row of a dataset, whatever its format (<see cref="RowMapping"/> makes it): a question with its answer, solution
/// and images, or a conversation (<see cref="Messages"/>) for SFT. <see cref="ImagePath"/> is the first image's file,
/// resolved against the dataset's folder (null for a text-only row, or when loaded text-only); every field the keys do
/// not name (think_solution, difficulty, knowledge, scene, …) is kept in <see cref="Extra"/>.
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
    /// The row's images in order: their bytes as the dataset carries them (Parquet's <c>Image</c> feature, a data URL) or
    /// a file below the dataset's folder. Empty for a text-only row or one loaded text-only. Defaults to
    /// <see cref="ImagePath"/> alone.
    /// </summary>
    public IReadOnlyList<RowImage> Images
    {
        get => _images ?? (ImagePath != null ? [new RowImage(null, ImagePath)] : []);
        init => _images = value;
    }
    readonly IReadOnlyList<RowImage>? _images;

    /// <summary>
    /// A conversation (OpenAI/Hugging Face <c>messages</c>) for SFT, each image a <see cref="Text.ChatTemplate.DefaultImageMarker"/>
    /// standing, in order, for one of <see cref="Images"/>; null for a question row.
    /// </summary>
    public IReadOnlyList<Text.ChatMessage>? Messages { get; init; }

    /// <summary>The row group a Parquet row came from (then <see cref="LineNumber"/> is the row's index in the file, from 0); null for JSONL.</summary>
    public int? RowGroup { get; init; }

    /// <summary>The column (or field) the images came from, as errors name it.</summary>
    public string ImageColumn { get; init; } = "image";

    public bool HasImage => Images.Count > 0;

    /// <summary>Where this row came from, as errors quote it: "file.jsonl:17", or "file.parquet: row group 1, row 17".</summary>
    public string Location => RowGroup is { } group ? $"{Path.GetFileName(SourceFile)}: row group {group}, row {LineNumber}" : $"{Path.GetFileName(SourceFile)}:{LineNumber}";

    /// <summary>An error about this row: its file, row (and row group) and field.</summary>
    public DataFormatException Error(string? field, string problem, Exception? inner = null) => RowGroup is { } group
        ? new DataFormatException(SourceFile, group, LineNumber, field, problem, inner)
        : new DataFormatException(SourceFile, LineNumber, field, problem, inner);

    /// <summary>The row's (first) image, decoded with the decoders' bounds; errors name the file, the row (and row group) and the column.</summary>
    public Image LoadImage() => Images.Count > 0 ? Load(0) : throw new InvalidOperationException($"{Location}: row '{Id}' has no image");

    /// <summary>Every image of the row in order, decoded (none for a text-only row).</summary>
    public IReadOnlyList<Image> LoadImages() => Enumerable.Range(0, Images.Count).Select(Load).ToList();

    /// <summary>The encoded bytes of image <paramref name="index"/> (read from its file when it is one).</summary>
    public byte[] ImageBytesAt(int index)
    {
        var image = Images[index];
        if (image.Bytes != null) return image.Bytes;
        try { return File.ReadAllBytes(image.Path!); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw Error(ImageFieldName(index), $"image file not found: {image.Path}", e);
        }
    }

    Image Load(int index)
    {
        var image = Images[index];
        try { return image.Bytes != null ? ImageFile.Decode(image.Bytes) : ImageFile.Load(image.Path!); }
        catch (Exception e) when (e is ImageFormatException or FileNotFoundException)
        {
            throw Error(ImageFieldName(index), e.Message, e);
        }
    }

    string ImageFieldName(int index) => Images.Count > 1 ? $"{ImageColumn}[{index}]" : ImageColumn;

    /// <summary>
    /// The user turn of the question with <paramref name="images"/> of its images (all of them, or 0 when they are not
    /// used: text-only, or a model without vision). The question's <c>&lt;image&gt;</c> markers (EasyR1's and geometry3k's
    /// convention) place the images where they stand, and must then be as many as the images; without markers the images
    /// go before the text; with no images used, the markers are left out (docs/spec/DATASETS.md §3).
    /// </summary>
    public Text.ChatMessage UserTurn(int images)
    {
        if (Messages != null)
            throw Error("messages", "a conversation row (messages) is for `ril sft`; evaluation and RL need questions with answers");
        const string marker = Text.ChatTemplate.DefaultImageMarker;
        if (images == 0) return Text.ChatMessage.User(Question.Replace(marker, "", StringComparison.Ordinal));
        int markers = Question.Split(marker).Length - 1;
        if (markers != 0 && markers != images)
            throw Error(null, $"the question has {markers} {marker} marker(s) but the row has {images} image(s) in '{ImageColumn}'; each image needs one marker where it goes (or none: then the images go before the text)");
        return Text.ChatMessage.User(Question, images);
    }
}

/// <summary>One image of a row: its encoded bytes (PNG or JPEG), or the path of its file.</summary>
public sealed record RowImage(byte[]? Bytes, string? Path);

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
