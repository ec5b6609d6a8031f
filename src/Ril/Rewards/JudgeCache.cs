using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ril.Data;

namespace Ril.Rewards;

/// <summary>One remembered verdict: the key, the judge model, 0 or 1, and the judge's reply (for auditing).</summary>
public sealed record JudgeCacheEntry(string Key, string Model, int Verdict, string Reply);

/// <summary>
/// Verdicts already paid for, keyed by a hash of (judge model, question, ground truth, response), kept in a
/// JSONL file — one line a verdict, appended as each arrives — and loaded at start, so a resumed run never
/// asks the judge the same thing twice. Only verdicts are cached: a parse failure or an endpoint failure
/// is asked again next time. Without a path the cache lives in memory only.
/// </summary>
public sealed class JudgeCache : IDisposable
{
    readonly ConcurrentDictionary<string, JudgeCacheEntry> _entries = new(StringComparer.Ordinal);
    readonly JsonlAppender? _file;

    public string? Path { get; }
    public int Count => _entries.Count;
    /// <summary>Bytes of a torn last line cut when the file was opened (a run killed mid-write).</summary>
    public long RepairedBytes { get; }

    JudgeCache(string? path, JsonlAppender? file, long repaired)
    {
        Path = path; _file = file; RepairedBytes = repaired;
    }

    public static JudgeCache InMemory() => new(null, null, 0);

    /// <summary>
    /// Loads the file (creating it when missing) and appends new verdicts to it. In a data-parallel run each process keeps
    /// a file of its own beside it (NAME.rank1.jsonl …; rank 0 uses <paramref name="path"/>): processes judge different
    /// questions, and two writers must never share one file. A resume with as many processes finds every verdict again.
    /// </summary>
    public static JudgeCache Open(string path)
    {
        int rank = Tensors.Distributed.World.Current.Rank;
        if (rank > 0) path = System.IO.Path.ChangeExtension(path, $".rank{rank}{System.IO.Path.GetExtension(path)}");
        long repaired = JsonlAppender.RepairTornLastLine(path);
        var entries = new List<JudgeCacheEntry>();
        if (File.Exists(path))
        {
            int lineNumber = 0;
            foreach (var line in File.ReadLines(path, Encoding.UTF8))
            {
                lineNumber++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                entries.Add(Parse(line, path, lineNumber));
            }
        }
        var cache = new JudgeCache(path, new JsonlAppender(path), repaired);
        foreach (var entry in entries) cache._entries[entry.Key] = entry;
        return cache;
    }

    /// <summary>
    /// SHA-256 over the four fields, each length-prefixed so that no two different tuples share an encoding
    /// ("ab"+"c" and "a"+"bc" differ).
    /// </summary>
    public static string Key(string model, string question, string groundTruth, string response)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var field in new[] { model, question, groundTruth, response })
        {
            var bytes = Encoding.UTF8.GetBytes(field);
            hash.AppendData(BitConverter.GetBytes((long)bytes.Length));
            hash.AppendData(bytes);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    public bool TryGet(string key, out JudgeCacheEntry entry) => _entries.TryGetValue(key, out entry!);

    /// <summary>Remembers a verdict and appends it to the file (once per key).</summary>
    public void Add(JudgeCacheEntry entry)
    {
        if (entry.Verdict is not (0 or 1)) throw new ArgumentException($"a verdict is 0 or 1 (got {entry.Verdict})");
        if (!_entries.TryAdd(entry.Key, entry)) return;
        _file?.Append(new JsonObject
        {
            ["key"] = entry.Key, ["model"] = entry.Model, ["verdict"] = entry.Verdict, ["reply"] = entry.Reply,
        }.ToJsonString(JsonlDataset.Compact));
    }

    static JudgeCacheEntry Parse(string line, string path, int lineNumber)
    {
        JsonObject obj;
        try { obj = JsonNode.Parse(line) as JsonObject ?? throw new DataFormatException(path, lineNumber, null, "expected a JSON object"); }
        catch (JsonException e) { throw new DataFormatException(path, lineNumber, null, $"invalid JSON ({e.Message.Split(" LineNumber")[0].TrimEnd('.')})", e); }
        string Text(string name) => obj[name] is JsonValue v && v.GetValueKind() == JsonValueKind.String
            ? v.GetValue<string>()
            : throw new DataFormatException(path, lineNumber, name, obj[name] == null ? "missing" : "expected a string");
        int verdict = obj["verdict"] is JsonValue n && n.GetValueKind() == JsonValueKind.Number && n.TryGetValue(out int value) && value is 0 or 1
            ? value
            : throw new DataFormatException(path, lineNumber, "verdict", "expected 0 or 1");
        return new(Text("key"), Text("model"), verdict, obj["reply"] is JsonValue r && r.GetValueKind() == JsonValueKind.String ? r.GetValue<string>() : "");
    }

    public void Dispose() => _file?.Dispose();
}
