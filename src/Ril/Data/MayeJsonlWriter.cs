using System.Text.Json.Nodes;
using Ril.Data.Images;

namespace Ril.Data;

/// <summary>What <see cref="MayeJsonlWriter.Write"/> wrote.</summary>
public sealed record MayeJsonlSummary(string JsonlPath, int Rows, int Images);

/// <summary>
/// Writes any dataset's rows as MAYE JSONL with image files, for users who want files: <c>{name}.jsonl</c> and
/// <c>images/{name}/{row}.png|.jpg</c> (the images' bytes as they were; a row's further images as
/// <c>{row}-1.png</c> …, all listed in a field <c>images</c> in place of <c>image</c>; a conversation row as its
/// <c>messages</c> and <c>images</c>). Each file appears whole (written beside, then renamed).
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
                    var encoded = Enumerable.Range(0, row.Images.Count).Select(row.ImageBytesAt).ToList();
                    var stem = SafeFileName(row.Id);
                    for (int i = 0; i < encoded.Count; i++)
                    {
                        var file = $"{stem}{(i == 0 ? "" : $"-{i}")}{Extension(encoded[i], row.Images[i].Path)}";
                        WriteWhole(Path.Combine(imageFolder, file), encoded[i]);
                        files.Add($"images/{name}/{file}");
                    }
                    images += files.Count;
                    var extra = (JsonObject)row.Extra.DeepClone();
                    // Several images go in a list `images` (what the readers take when a row has no `image`).
                    if (files.Count > 1 || row.Messages != null) extra["images"] = new JsonArray(files.Select(f => (JsonNode?)f).ToArray());
                    if (row.Messages != null)
                        extra["messages"] = new JsonArray(row.Messages.Select(m => (JsonNode?)new JsonObject { ["role"] = m.Role, ["content"] = m.Content }).ToArray());
                    var image = files.Count > 1 || row.Messages != null ? null : files.FirstOrDefault() ?? row.ImageField;
                    writer.WriteLine(row.Messages != null ? ConversationLine(row, extra) : JsonlDataset.ToJsonLine(row.Id, row.Question, row.Answer, row.Solution, image, extra));
                    count++;
                }
            }
            File.Move(temporary, jsonlPath, overwrite: true);
        }
        finally { File.Delete(temporary); }
        return new MayeJsonlSummary(jsonlPath, count, images);
    }

    /// <summary>A conversation row: its id, messages (each image a &lt;image&gt; marker) and images, and the other fields.</summary>
    static string ConversationLine(DatasetRow row, JsonObject extra)
    {
        var obj = new JsonObject { ["id"] = row.Id };
        foreach (var (key, value) in extra) obj[key] = value?.DeepClone();
        return obj.ToJsonString(JsonlDataset.Compact);
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
