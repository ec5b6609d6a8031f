using System.Text.Json.Nodes;
using Ril.Tests.Data;
using Ril.Text;

namespace Ril.Tests.Text;

/// <summary>
/// The files under tests/fixtures/tokenizer (written by make_tokenizer_fixtures.mjs): Qwen3's real
/// tokenizer.json and Hugging Face's ids for the committed corpus. Qwen's tokenizer is loaded once.
/// </summary>
public static class TokenizerFixtures
{
    public static string Folder => Path.Combine(RepoPaths.Fixtures, "tokenizer");
    public static string QwenTokenizerPath => Path.Combine(Folder, "qwen3", "tokenizer.json");
    public static string TrainedTokenizerPath => Path.Combine(Folder, "trained", "tokenizer.json");

    static readonly Lazy<BpeTokenizer> qwen = new(() => BpeTokenizer.Load(QwenTokenizerPath));
    public static BpeTokenizer Qwen => qwen.Value;

    public static IReadOnlyList<string> Corpus { get; } =
        JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, "corpus.json")))!.AsArray().Select(n => n!.GetValue<string>()).ToArray();

    public sealed record Expected(string Text, string Nfc, string Decoded, int[] Ids);

    /// <summary>Entries of qwen3_expected.json or trained_expected.json, and the file's header.</summary>
    public static (JsonObject Header, IReadOnlyList<Expected> Entries) ReadExpected(string file)
    {
        var root = JsonNode.Parse(File.ReadAllText(Path.Combine(Folder, file)))!.AsObject();
        var entries = root["entries"]!.AsArray().Select(e =>
        {
            var text = e!["text"]!.GetValue<string>();
            var nfc = e["nfc"]?.GetValue<string>() ?? text;
            return new Expected(text, nfc, e["decoded"]?.GetValue<string>() ?? nfc,
                e["ids"]!.AsArray().Select(i => i!.GetValue<int>()).ToArray());
        }).ToArray();
        return (root, entries);
    }

    /// <summary>Describes the first difference between expected and actual ids, or returns null when equal.</summary>
    public static string? FirstMismatch(BpeTokenizer tokenizer, int entry, Expected expected, int[] actual)
    {
        if (expected.Ids.AsSpan().SequenceEqual(actual)) return null;
        int at = 0;
        while (at < expected.Ids.Length && at < actual.Length && expected.Ids[at] == actual[at]) at++;
        string Show(int[] ids) => string.Join(" ", ids.Select((id, i) => i == at ? $"[{id} {Token(id)}]" : id.ToString()));
        string Token(int id) => $"'{tokenizer.IdToToken(id)}'";
        return $"entry {entry}: {System.Text.Json.JsonSerializer.Serialize(expected.Text)}\n" +
               $"  first difference at token {at}\n" +
               $"  expected ({expected.Ids.Length}): {Show(expected.Ids)}\n" +
               $"  actual   ({actual.Length}): {Show(actual)}";
    }
}
