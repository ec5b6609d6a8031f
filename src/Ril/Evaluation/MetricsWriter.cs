using System.Text.Json.Nodes;
using Ril.Rewards;

namespace Ril.Evaluation;

/// <summary>
/// metrics.jsonl: one JSON object per step, {"step": n, "time": ISO-8601, "name": value, …}, a missing metric written
/// as null. Each line is appended in one write and flushed (<see cref="JsonlAppender"/>), so a killed run leaves whole
/// lines; a torn last line from an earlier crash is cut when the file is opened again.
/// </summary>
public sealed class MetricsWriter : IDisposable
{
    readonly JsonlAppender _file;

    public string Path => _file.Path;

    /// <param name="resumedAt">on a resume, the checkpoint's step: rows of later steps (logged before the crash, about to be
    /// logged again) are dropped, so each step has one row</param>
    public MetricsWriter(string path, long? resumedAt = null)
    {
        JsonlAppender.RepairTornLastLine(path, ownFile: true);
        if (resumedAt is { } step && File.Exists(path)) DropRowsAfter(path, step);
        _file = new JsonlAppender(path);
    }

    static void DropRowsAfter(string path, long step)
    {
        var lines = File.ReadAllLines(path);
        var kept = lines.Where(l => l.Length == 0 || JsonNode.Parse(l)?["step"]?.GetValue<long>() is not { } s || s <= step).ToList();
        if (kept.Count == lines.Length) return;
        File.WriteAllLines(path + ".tmp", kept);
        File.Move(path + ".tmp", path, overwrite: true);
    }

    public void Write(long step, IEnumerable<KeyValuePair<string, double?>> values, DateTimeOffset? time = null)
    {
        var o = new JsonObject { ["step"] = step, ["time"] = (time ?? DateTimeOffset.UtcNow).ToString("O") };
        foreach (var (name, value) in values) o[name] = value is { } v && double.IsFinite(v) ? v : null;
        _file.Append(o.ToJsonString());
    }

    /// <summary>The rows of a metrics file, in order (a torn last line is skipped, not repaired: reading never writes).</summary>
    public static List<JsonObject> Read(string path)
    {
        var rows = new List<JsonObject>();
        if (!File.Exists(path)) return rows;
        var text = File.ReadAllText(path);
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Length == 0 || (i == lines.Length - 1 && !text.EndsWith('\n'))) continue;
            try { if (JsonNode.Parse(lines[i]) is JsonObject o) rows.Add(o); }
            catch (System.Text.Json.JsonException e) { throw new InvalidDataException($"{path}:{i + 1}: not JSON ({e.Message})", e); }
        }
        return rows;
    }

    public void Dispose() => _file.Dispose();
}
