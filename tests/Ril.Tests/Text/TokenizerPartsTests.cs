using System.Text.Json.Nodes;
using Ril.Text;

namespace Ril.Tests.Text;

/// <summary>The pieces of the tokenizer on their own: splits, the code-point regex, merges, byte alphabet, errors.</summary>
public class TokenizerPartsTests
{
    static List<string> Split(PreTokenizer step, string text)
    {
        var output = new List<TextRange>();
        step.Split(text, [new TextRange(0, text.Length)], output);
        return output.Select(r => text.Substring(r.Start, r.Length)).ToList();
    }

    [Theory] // Hugging Face's documented example: "the-final--countdown" split on "-".
    [InlineData(SplitBehavior.Removed, "the|final|countdown")]
    [InlineData(SplitBehavior.Isolated, "the|-|final|-|-|countdown")]
    [InlineData(SplitBehavior.MergedWithPrevious, "the-|final-|-|countdown")]
    [InlineData(SplitBehavior.MergedWithNext, "the|-final|-|-countdown")]
    [InlineData(SplitBehavior.Contiguous, "the|-|final|--|countdown")]
    public void Split_behaviours_follow_Hugging_Face(SplitBehavior behavior, string expected)
    {
        var step = new RegexSplit(new CodePointRegex("-"), behavior, invert: false);
        Assert.Equal(expected.Split('|'), Split(step, "the-final--countdown"));
    }

    [Fact]
    public void The_regex_sees_code_points_not_UTF16_halves()
    {
        // Qwen's split: an emoji (one code point, two chars) may lead a word, like any non-letter;
        // 𝑥 and 𠀀 are letters, 𝟏 a digit.
        var qwen = new RegexSplit(new CodePointRegex(BpeTrainerOptions.QwenPattern), SplitBehavior.Isolated, false);
        Assert.Equal(["🎉Hello", " world"], Split(qwen, "🎉Hello world"));
        Assert.Equal(["a𝑥b", " 𠀀𠀁", " ", "𝟏", "𝟐"], Split(qwen, "a𝑥b 𠀀𠀁 𝟏𝟐"));
        Assert.Equal(["😀😀", " hi"], Split(qwen, "😀😀 hi"));
    }

    [Fact]
    public void Digits_split_alone_or_in_runs()
    {
        Assert.Equal(["abc", "1", "2", "3", "d", "٤", "٥"], Split(new DigitsSplit(true), "abc123d٤٥"));
        Assert.Equal(["abc", "123", "d", "٤٥"], Split(new DigitsSplit(false), "abc123d٤٥"));
    }

    [Fact]
    public void Scan_and_heap_merges_agree_on_random_words()
    {
        // Random merge tables over 6 symbols, including ones whose result merges again and duplicates.
        var random = new Random(7);
        for (int trial = 0; trial < 300; trial++)
        {
            var merges = new BpeMerges();
            int next = 6;
            for (int m = 0; m < 40; m++) merges.Add(random.Next(next), random.Next(next), next++);
            var word = Enumerable.Range(0, random.Next(2, 120)).Select(_ => random.Next(6)).ToArray();
            var byScan = (int[])word.Clone();
            var byHeap = (int[])word.Clone();
            int scanLength = merges.ApplyByScan(byScan), heapLength = merges.ApplyByHeap(byHeap);
            Assert.Equal(byScan[..scanLength], byHeap[..heapLength]);
        }
    }

    [Fact]
    public void Lowest_rank_merges_first_and_ties_go_left()
    {
        var merges = new BpeMerges();
        merges.Add(0, 0, 2); // a a → aa (rank 0)
        merges.Add(2, 0, 3); // aa a → aaa (rank 1)
        int[] word = [0, 0, 0];
        Assert.Equal([3], word[..merges.Apply(word)]);
        // a a a a a: both a-a merges (rank 0) before any aa-a (rank 1), leftmost first: aa aa a, then aa aaa.
        int[] five = [0, 0, 0, 0, 0];
        Assert.Equal([2, 3], five[..merges.Apply(five)]);
    }

    [Fact]
    public void Byte_alphabet_is_GPT2s()
    {
        Assert.Equal('Ġ', ByteLevel.ByteToChar[' ']);
        Assert.Equal('Ċ', ByteLevel.ByteToChar['\n']);
        Assert.Equal('!', ByteLevel.ByteToChar['!']);
        Assert.Equal(256, ByteLevel.ByteToChar.Distinct().Count());
        for (int b = 0; b < 256; b++) Assert.Equal(b, ByteLevel.CharToByte(ByteLevel.ByteToChar[b]));
        Assert.Equal("ĠhÃ©", ByteLevel.Encode(" hé"));
        Assert.Equal("<think>"u8.ToArray(), ByteLevel.TokenBytes("<think>"));
        Assert.Equal("中"u8.ToArray(), ByteLevel.TokenBytes("中")); // not in the alphabet: its own UTF-8
    }

    // A small valid tokenizer.json to break one field at a time.
    static JsonObject Valid() => JsonNode.Parse("""
        {"version": "1.0", "added_tokens": [{"id": 3, "content": "<|x|>", "special": true}],
         "normalizer": {"type": "NFC"},
         "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
         "decoder": {"type": "ByteLevel"},
         "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}
        """)!.AsObject();

    static string ErrorOf(Action<JsonObject> edit)
    {
        var json = Valid();
        edit(json);
        return Assert.Throws<TokenizerFormatException>(() => BpeTokenizer.FromJson(json.ToJsonString(), "broken.json")).Message;
    }

    [Fact]
    public void A_malformed_tokenizer_json_names_the_file_and_the_field()
    {
        // A byte-level vocabulary may lack bytes (SmolVLM's does): Hugging Face's BPE drops them when there is no unknown token.
        Assert.Equal([0, 1, 2], BpeTokenizer.FromJson(Valid().ToJsonString(), "broken.json").Encode("a\u0004b ab"));
        Assert.StartsWith("broken.json: field 'model.merges[0]': 'c' is not in model.vocab", ErrorOf(j => j["model"]!["merges"] = new JsonArray("c b")));
        Assert.StartsWith("broken.json: field 'model.merges[0]': expected \"left right\"", ErrorOf(j => j["model"]!["merges"] = new JsonArray("a b c")));
        Assert.Equal("broken.json: field 'model.vocab': missing", ErrorOf(j => j["model"]!.AsObject().Remove("vocab")));
        Assert.StartsWith("broken.json: field 'model.vocab.b': expected a non-negative integer id", ErrorOf(j => j["model"]!["vocab"]!["b"] = "one"));
        Assert.StartsWith("broken.json: field 'model.type': model type 'Unigram' is not supported", ErrorOf(j => j["model"]!["type"] = "Unigram"));
        Assert.StartsWith("broken.json: field 'normalizer.type': normalizer 'NFKC' is not supported", ErrorOf(j => j["normalizer"] = new JsonObject { ["type"] = "NFKC" }));
        Assert.StartsWith("broken.json: field 'added_tokens[0].id': expected an integer", ErrorOf(j => j["added_tokens"]![0]!["id"] = "3"));
        Assert.StartsWith("broken.json: field 'pre_tokenizer.pretokenizers[0].behavior': unknown behavior 'Split'",
            ErrorOf(j => j["pre_tokenizer"] = JsonNode.Parse("""{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Split"}]}""")));
        Assert.StartsWith("broken.json: field 'pre_tokenizer.pretokenizers[0].pattern': the regex does not compile in .NET",
            ErrorOf(j => j["pre_tokenizer"] = JsonNode.Parse("""{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated"}]}""")));
        Assert.StartsWith("broken.json: field 'pre_tokenizer.pretokenizers[1]': 'Split' comes after ByteLevel",
            ErrorOf(j => j["pre_tokenizer"] = JsonNode.Parse("""{"type": "Sequence", "pretokenizers": [{"type": "ByteLevel"}, {"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Isolated"}]}""")));
        var bad = Assert.Throws<TokenizerFormatException>(() => BpeTokenizer.FromJson("{\"model\": {\n  \"vocab\": [}", "broken.json"));
        Assert.StartsWith("broken.json: invalid JSON at line 2", bad.Message);
        Assert.IsAssignableFrom<IOException>(bad); // the CLI reports it as a user error
    }

    [Fact]
    public void Load_names_a_missing_file()
    {
        var e = Assert.Throws<FileNotFoundException>(() => BpeTokenizer.Load("/nonexistent/tokenizer.json"));
        Assert.Contains("/nonexistent/tokenizer.json", e.Message);
    }
}

/// <summary>The hand-written Qwen/Llama 3 split against .NET's regex engine running the same pattern.</summary>
public class Qwen2SplitScannerTests
{
    static List<(int, int)> Matches(CodePointRegex regex, string text)
    {
        var matches = new List<(int Start, int Length)>();
        regex.Matches(text, matches);
        return matches;
    }

    public static TheoryData<string> Patterns() => new(BpeTrainerOptions.QwenPattern, Qwen2SplitScanner.Llama3Pattern);

    [Theory]
    [MemberData(nameof(Patterns))]
    public void Scanner_matches_the_regex_on_the_corpus_and_on_random_text(string pattern)
    {
        var scanner = new CodePointRegex(pattern);
        var regex = new CodePointRegex(pattern, allowHandWritten: false);
        Assert.True(scanner.IsHandWritten);
        Assert.False(regex.IsHandWritten);
        foreach (var text in TokenizerFixtures.Corpus) Assert.Equal(Matches(regex, text), Matches(scanner, text));

        // Characters of every class the pattern distinguishes, and the edges between them.
        string[] pool = ["a", "Z", "é", "ж", "中", "𝑥", "𠀀", "s", "S", "t", "r", "e", "E", "v", "m", "l", "L", "d", "'", "’",
                         "1", "٣", "²", "𝟏", "Ⅻ", " ", " ", " ", "\t", "\u00a0", "\u3000", "\u2028", "\u0085", "\v", "\f", "\r", "\n",
                         ".", "!", "(", "=", "-", "_", "\\", "😀", "🏽", "\u200d", "\u0301", "\ufe0f", "\ud800", "\udc00", "ſ", "K"];
        var random = new Random(11);
        for (int trial = 0; trial < 20000; trial++)
        {
            var text = string.Concat(Enumerable.Range(0, random.Next(0, 24)).Select(_ => pool[random.Next(pool.Length)]));
            var expected = Matches(regex, text);
            var actual = Matches(scanner, text);
            if (!expected.SequenceEqual(actual))
                Assert.Fail($"{System.Text.Json.JsonSerializer.Serialize(text)}: regex {string.Join(" ", expected)} scanner {string.Join(" ", actual)}");
        }
    }

    [Fact]
    public void Other_patterns_run_on_the_regex_engine()
    {
        Assert.False(new CodePointRegex(PreTokenizer.Gpt2Pattern).IsHandWritten);
        Assert.False(new CodePointRegex(BpeTrainerOptions.QwenPattern + "|x").IsHandWritten);
    }
}
