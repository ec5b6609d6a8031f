using Ril.Data.Images;

namespace Ril.Data;

/// <summary>What <see cref="MayeJsonlWriter.Write"/> wrote.</summary>
public sealed record MayeJsonlSummary(string JsonlPath, int Rows, int Images);

/// <summary>
/// Writes any dataset's rows as MAYE JSONL with image files, for users who want files: <c>{name}.jsonl</c> and
/// <c>images/{name}/{row}.png|.jpg</c> (the images' bytes as they were; a row's further images as
/// <c>{row}-1.png</c> … listed in an extra field <c>images</c>). Each file appears whole (written beside, then renamed).
/// </summary>
public static class MayeJsonlWriter
{
    public static MayeJsonlSummary Write(IEnumerable<DatasetRow> rows, string folder, string name)
    {
        var jsonlPath = Path.Combine(Path.GetFullPath(folder), name + ".jsonl");
        var imageFolder = Path.Combine(Path.GetDirectoryName(jsonlPath)!, "images", name);
        Directory.CreateDirectory(imageFolder);
        var temporary = $"{jsonlPath}.{Environment.ProcessId}.tmp";
        int count = 0, images = 0;
        try
        {
            using (var writer = new StreamWriter(temporary, false, new System.Text.UTF8Encoding(false)))
            {
                foreach (var row in rows)
                {
                    var files = new List<string>();
                    var encoded = row.ImageBytes ?? (row.ImagePath != null ? [File.ReadAllBytes(row.ImagePath)] : []);
                    var stem = SafeFileName(row.Id);
                    for (int i = 0; i < encoded.Count; i++)
                    {
                        var file = $"{stem}{(i == 0 ? "" : $"-{i}")}{Extension(encoded[i], row.ImagePath)}";
                        WriteWhole(Path.Combine(imageFolder, file), encoded[i]);
                        files.Add($"images/{name}/{file}");
                    }
                    images += files.Count;
                    var extra = (System.Text.Json.Nodes.JsonObject)row.Extra.DeepClone();
                    if (files.Count > 1) extra["images"] = new System.Text.Json.Nodes.JsonArray(files.Select(f => (System.Text.Json.Nodes.JsonNode?)f).ToArray());
                    writer.WriteLine(JsonlDataset.ToJsonLine(row.Id, row.Question, row.Answer, row.Solution, files.FirstOrDefault() ?? row.ImageField, extra));
                    count++;
                }
            }
            File.Move(temporary, jsonlPath, overwrite: true);
        }
        finally { File.Delete(temporary); }
        return new MayeJsonlSummary(jsonlPath, count, images);
    }

    static string Extension(byte[] bytes, string? path) =>
        PngDecoder.HasSignature(bytes) ? ".png" : Jpeg.HasSignature(bytes) ? ".jpg" : Path.GetExtension(path) ?? ".bin";

    static void WriteWhole(string path, byte[] bytes)
    {
        var temporary = $"{path}.{Environment.ProcessId}.tmp";
        File.WriteAllBytes(temporary, bytes);
        File.Move(temporary, path, overwrite: true);
    }

    // Ids become file names: anything but letters, digits, '-', '_' and '.' turns into '_'.
    static string SafeFileName(string id)
    {
        var name = string.Concat(id.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_')).Trim('.');
        return name.Length == 0 ? "row" : name;
    }
}
