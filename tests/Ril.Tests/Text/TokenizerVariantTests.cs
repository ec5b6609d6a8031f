using System.Text.Json.Nodes;
using Ril.Text;

namespace Ril.Tests.Text;

/// <summary>
/// Other tokenizer.json features, each a variant of the trained vocabulary with the reference's ids
/// (variants_expected.json): GPT-2's ByteLevel regex with a prefix space, Llama 3's ignore_merges and
/// BOS template, merges as arrays, lstrip/rstrip and normalized added tokens, Removed and inverted splits.
/// </summary>
public class TokenizerVariantTests
{
    static readonly JsonNode Root = JsonNode.Parse(File.ReadAllText(Path.Combine(TokenizerFixtures.Folder, "variants_expected.json")))!;

    public static TheoryData<string> Variants() => new(Root["variants"]!.AsArray().Select(v => v!["name"]!.GetValue<string>()));

    [Theory]
    [MemberData(nameof(Variants))]
    public void Ids_match_the_reference(string name)
    {
        var variant = Root["variants"]!.AsArray().Single(v => v!["name"]!.GetValue<string>() == name)!;
        var tokenizer = BpeTokenizer.FromJson(variant["tokenizer"]!.ToJsonString(), name);
        bool addSpecial = variant["add_special_tokens"]!.GetValue<bool>();
        var texts = Root["texts"]!.AsArray().Select(t => t!.GetValue<string>()).ToArray();
        var expected = Root["ids"]![name]!.AsArray().Select(ids => ids!.AsArray().Select(i => i!.GetValue<int>()).ToArray()).ToArray();
        var mismatches = new List<string>();
        for (int i = 0; i < texts.Length; i++)
        {
            var entry = new TokenizerFixtures.Expected(texts[i], texts[i], texts[i], expected[i]);
            if (TokenizerFixtures.FirstMismatch(tokenizer, i, entry, tokenizer.Encode(texts[i], addSpecial)) is { } problem) mismatches.Add(problem);
        }
        Assert.True(mismatches.Count == 0, $"{name}: {mismatches.Count} of {texts.Length} differ; the first:\n{mismatches.FirstOrDefault()}");
    }
}
