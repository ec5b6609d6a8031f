using Ril.Text;

namespace Ril.Tests.Text;

/// <summary>The BPE trainer: merges it learns, round trips, and a written file Hugging Face reads the same way.</summary>
public class BpeTrainerTests
{
    // The committed trained/tokenizer.json is this vocabulary; trained_expected.json holds Hugging Face's
    // ids under it (make_tokenizer_fixtures.mjs).
    static readonly BpeTrainerOptions FixtureOptions = new() { VocabSize = 512, MinFrequency = 2 };

    [Fact]
    public void Learns_the_textbook_merges()
    {
        // Wikipedia's example: "aaabdaaabac" merges aa, then ab (ties go to the lower ids: a b < aa a), then aa ab.
        var vocabulary = BpeTrainer.Train(["aaabdaaabac"], new BpeTrainerOptions { VocabSize = 300, SpecialTokens = [] });
        Assert.Equal([("a", "a"), ("a", "b"), ("aa", "ab")], vocabulary.Merges);
        Assert.Equal(["aa", "ab", "aaab"], vocabulary.Tokens.Skip(256));
        var tokenizer = vocabulary.ToTokenizer();
        Assert.Equal(["aaab", "d", "aaab", "a", "c"], tokenizer.Encode("aaabdaaabac").Select(id => tokenizer.IdToToken(id)));
    }

    [Fact]
    public void Words_are_split_first_and_merges_stay_inside_them()
    {
        var vocabulary = BpeTrainer.Train(Enumerable.Repeat("the cat and the hat, the end", 5), new BpeTrainerOptions { VocabSize = 270 });
        var tokenizer = vocabulary.ToTokenizer();
        Assert.Contains("Ġthe", vocabulary.Tokens);
        Assert.DoesNotContain(vocabulary.Tokens, t => t.Contains(",Ġ") || System.Text.RegularExpressions.Regex.IsMatch(t, @"\p{L}Ġ"));
        Assert.Equal(new[] { tokenizer.TokenToId("Ġthe")!.Value }, tokenizer.Encode(" the"));
        Assert.Equal(270, vocabulary.VocabSize);
        Assert.Equal(270, tokenizer.VocabSize);
    }

    [Fact]
    public void Stops_when_no_pair_is_frequent_enough_and_rejects_impossible_sizes()
    {
        var vocabulary = BpeTrainer.Train(["abc"], new BpeTrainerOptions { VocabSize = 1000, MinFrequency = 2 });
        Assert.Empty(vocabulary.Merges);
        Assert.Throws<ArgumentException>(() => BpeTrainer.Train(["x"], new BpeTrainerOptions { VocabSize = 100 }));
    }

    [Fact]
    public void Trained_tokenizer_round_trips_any_text_and_knows_its_special_tokens()
    {
        var tokenizer = BpeTrainer.Train(TokenizerFixtures.Corpus, FixtureOptions).ToTokenizer();
        foreach (var text in TokenizerFixtures.Corpus.Append("unseen: ǅ ﬁ 🦀 \u0000 \t\r\n"))
            Assert.Equal(UnicodeNormalization.ToNfc(text), tokenizer.Decode(tokenizer.Encode(text)));
        Assert.Equal(512 - 6, tokenizer.SpecialTokenId("<|endoftext|>"));
        Assert.Equal(511, tokenizer.SpecialTokenId("<|image_pad|>"));
        Assert.Equal(tokenizer.SpecialTokenId("<|endoftext|>"), tokenizer.EosTokenId);
    }

    [Fact]
    public void The_committed_trained_tokenizer_is_what_training_writes_and_Hugging_Face_encodes_like_us()
    {
        var json = BpeTrainer.Train(TokenizerFixtures.Corpus, FixtureOptions).ToJson();
        var path = TokenizerFixtures.TrainedTokenizerPath;
        if (Environment.GetEnvironmentVariable("RIL_WRITE_FIXTURES") == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, json);
        }
        Assert.True(json == File.ReadAllText(path),
            "training no longer writes the committed trained/tokenizer.json; if intended, regenerate it (tests/fixtures/tokenizer/README.md)");

        var tokenizer = BpeTokenizer.Load(path);
        var (header, entries) = TokenizerFixtures.ReadExpected("trained_expected.json");
        Assert.Equal(TokenizerFixtures.Corpus, entries.Select(e => e.Text));
        var mismatches = entries.Select((e, i) => TokenizerFixtures.FirstMismatch(tokenizer, i, e, tokenizer.Encode(e.Text))).OfType<string>().ToList();
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} entries differ from Hugging Face's encoding; the first:\n{mismatches.FirstOrDefault()}");
        Assert.All(entries, e => Assert.Equal(e.Decoded, tokenizer.Decode(e.Ids)));
        Assert.Equal((int)header["token_count"]!, entries.Sum(e => e.Ids.Length));
    }
}
