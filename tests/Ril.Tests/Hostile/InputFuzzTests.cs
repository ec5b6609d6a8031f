using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Ril.Data;
using Ril.Tests.Data;
using Ril.Text;
using Ril.Training;

namespace Ril.Tests.Hostile;

/// <summary>
/// Seeded fuzz of the files a user hands Ril — recipes (YAML), tokenizer.json, dataset JSONL rows: every mutation either
/// loads or fails with the loader's own error in one line naming the file (and the line or field where there is one).
/// A few hundred mutations per test keep CI within seconds; RIL_FUZZ_SEEDS=N runs N seeds more offline.
/// </summary>
public sealed class InputFuzzTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("ril-fuzz-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    static readonly TimeSpan Limit = TimeSpan.FromSeconds(120);

    /// <summary>The seed of CI, plus more when RIL_FUZZ_SEEDS asks for them.</summary>
    public static IEnumerable<object[]> Seeds() =>
        Enumerable.Range(20261203, int.TryParse(Environment.GetEnvironmentVariable("RIL_FUZZ_SEEDS"), out int n) && n > 1 ? n : 1).Select(s => new object[] { s });

    /// <summary>YAML values and keys that a recipe reader must refuse or take: other types, anchors, tags, overflows.</summary>
    static readonly string[] HostileYaml =
        ["-1", "0", "1e309", "99999999999", "x", "", "[1, 2]", "{a: 1}", "~", "!!binary AAAA", "*a", "&a 1", "'unterminated", "nan", ".inf", "0x10",
         "1_000", "true", "[[1]]", "{}", "[]", "- x", "\"\\u0000\"", "? [a]", "!!map {}", "|\n  text"];

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task Recipes(int seed)
    {
        var rng = new Random(seed);
        var originals = Directory.GetFiles(Path.Combine(RepoPaths.Root, "configs"), "*.yaml").Order().Select(File.ReadAllText).ToList();
        var path = Path.Combine(_dir, "recipe.yaml");
        IEnumerable<(string, Action)> Cases()
        {
            for (int trial = 0; trial < 400; trial++)
            {
                var text = originals[rng.Next(originals.Count)];
                for (int edits = rng.Next(1, 3); edits > 0; edits--)
                    text = rng.Next(3) == 0 ? Fuzz.Edit(text, rng) : ReplaceYaml(text, rng);
                File.WriteAllText(path, text);
                yield return (text, () => Recipe.Load(path));
            }
        }
        int refused = await Fuzz.Check<RecipeException>(Cases(), "recipe.yaml", Limit);
        Assert.True(refused > 100, $"only {refused} of 400 mutations were refused: the fuzz is not reaching the checks");
    }

    /// <summary>A key's value, or the key itself, replaced by a hostile YAML snippet.</summary>
    static string ReplaceYaml(string text, Random rng)
    {
        var lines = text.Split('\n');
        var keyed = lines.Select((l, i) => (l, i)).Where(x => Regex.IsMatch(x.l, @"^\s*[a-z_]+:")).ToList();
        if (keyed.Count == 0) return Fuzz.Edit(text, rng);
        var (line, index) = keyed[rng.Next(keyed.Count)];
        int colon = line.IndexOf(':');
        var snippet = HostileYaml[rng.Next(HostileYaml.Length)];
        lines[index] = rng.Next(5) == 0 ? $"{line[..(line.Length - line.TrimStart().Length)]}{snippet}:{line[(colon + 1)..]}" : $"{line[..(colon + 1)]} {snippet}";
        return string.Join('\n', lines);
    }

    /// <summary>The text encoded and decoded by every tokenizer that loads: failures may hide until then.</summary>
    const string Sample = "Find x: 3 + 4 = 7.  <|im_start|>user\nnaïve café — 你好 😀 \t\r\n  (a)";

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task Tokenizer_json(int seed)
    {
        var rng = new Random(seed);
        var original = JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Fixtures, "tokenizer", "trained", "tokenizer.json")))!.AsObject();
        IEnumerable<(string, Action)> Cases()
        {
            for (int trial = 0; trial < 300; trial++)
            {
                string text;
                if (rng.Next(6) == 0) text = Fuzz.Edit(original.ToJsonString(), rng);
                else
                {
                    var json = original.DeepClone().AsObject();
                    for (int edits = rng.Next(1, 3); edits > 0; edits--)
                    {
                        // Half the edits go to the structure (model settings, normalizer, pre-tokenizers, decoder, added tokens),
                        // half anywhere, where the vocabulary and merges dominate.
                        var all = Fuzz.Slots(json);
                        var model = json["model"] as JsonObject;
                        var structure = all.Where(s => !IsInside(s.Parent, model?["vocab"]) && !IsInside(s.Parent, model?["merges"])).ToList();
                        var pool = rng.Next(2) == 0 && structure.Count > 0 ? structure : all;
                        Fuzz.Set(pool[rng.Next(pool.Count)], rng);
                    }
                    text = json.ToJsonString();
                }
                yield return (text.Length < 2000 ? text : Describe(original, text), () =>
                {
                    var tokenizer = BpeTokenizer.FromJson(text, "tokenizer.json");
                    var ids = tokenizer.Encode(Sample);
                    tokenizer.Decode(ids);
                });
            }
        }
        int refused = await Fuzz.Check<TokenizerFormatException>(Cases(), "tokenizer.json", Limit);
        Assert.True(refused > 60, $"only {refused} of 300 mutations were refused: the fuzz is not reaching the checks");
    }

    static bool IsInside(JsonNode? node, JsonNode? container)
    {
        if (container is null) return false;
        for (; node is not null; node = node.Parent) if (ReferenceEquals(node, container)) return true;
        return false;
    }

    /// <summary>Where a long mutated text first differs from the original.</summary>
    static string Describe(JsonObject original, string text)
    {
        var o = original.ToJsonString();
        int at = 0;
        while (at < o.Length && at < text.Length && o[at] == text[at]) at++;
        return $"at {at}: …{text[Math.Max(0, at - 80)..Math.Min(text.Length, at + 120)]}…";
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task Dataset_rows(int seed)
    {
        var rng = new Random(seed);
        // Five of MAYE's rows with their (tiny) images beside them, so that image fields resolve.
        var rows = File.ReadLines(Path.Combine(RepoPaths.MayeData, "geometry3k_rl_v0.jsonl")).Take(5).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Directory.CreateDirectory(Path.Combine(_dir, "geometry3k_images"));
        var png = Ril.Data.Images.PngEncoder.Encode(new Ril.Data.Images.Image(2, 2, 1, [0, 64, 128, 255]));
        foreach (var row in rows) File.WriteAllBytes(Path.Combine(_dir, (string)row["image"]!), png);
        var path = Path.Combine(_dir, "rows.jsonl");
        IEnumerable<(string, Action)> Cases()
        {
            for (int trial = 0; trial < 400; trial++)
            {
                var lines = rows.Select(r => r.DeepClone().AsObject()).ToList();
                var texts = lines.Select(l => l.ToJsonString()).ToList();
                int target = rng.Next(lines.Count);
                if (rng.Next(4) == 0) texts[target] = Fuzz.Edit(texts[target], rng);
                else
                {
                    var slots = Fuzz.Slots(lines[target]);
                    Fuzz.Set(slots[rng.Next(slots.Count)], rng);
                    if (rng.Next(6) == 0) lines[target]["image"] = new[] { "../escape.png", "/etc/passwd", "geometry3k_images/none.png", "geometry3k_images", "\0" }[rng.Next(5)];
                    texts[target] = lines[target].ToJsonString();
                }
                File.WriteAllText(path, string.Join('\n', texts) + "\n");
                yield return (texts[target], () => JsonlDataset.Load(path));
            }
        }
        int refused = await Fuzz.Check<DataFormatException>(Cases(), "rows.jsonl:", Limit);
        Assert.True(refused > 100, $"only {refused} of 400 mutations were refused: the fuzz is not reaching the checks");
    }
}
