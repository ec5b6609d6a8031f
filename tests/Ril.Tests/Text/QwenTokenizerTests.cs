using System.Security.Cryptography;
using Ril.Text;

namespace Ril.Tests.Text;

/// <summary>
/// Qwen3's real tokenizer.json against Hugging Face's reference encoder (tokenizers.js) on a
/// multilingual corpus: code, LaTeX, CJK, emoji, whitespace runs, special tokens, text needing NFC.
/// </summary>
public class QwenTokenizerTests
{
    static BpeTokenizer Qwen => TokenizerFixtures.Qwen;

    [Fact]
    public void Ids_match_the_reference_exactly_on_every_corpus_entry()
    {
        var (header, entries) = TokenizerFixtures.ReadExpected("qwen3_expected.json");
        Assert.Equal(TokenizerFixtures.Corpus, entries.Select(e => e.Text));
        var mismatches = new List<string>();
        int tokens = 0;
        for (int i = 0; i < entries.Count; i++)
        {
            var actual = Qwen.Encode(entries[i].Text);
            tokens += actual.Length;
            if (TokenizerFixtures.FirstMismatch(Qwen, i, entries[i], actual) is { } problem) mismatches.Add(problem);
        }
        Assert.True(mismatches.Count == 0, $"{mismatches.Count} of {entries.Count} entries differ; the first:\n{mismatches.FirstOrDefault()}");
        Assert.Equal((int)header["token_count"]!, tokens);
    }

    [Fact]
    public void Decoding_the_ids_gives_back_the_text_after_NFC()
    {
        var (_, entries) = TokenizerFixtures.ReadExpected("qwen3_expected.json");
        foreach (var entry in entries)
        {
            Assert.Equal(entry.Nfc, UnicodeNormalization.ToNfc(entry.Text));
            Assert.Equal(entry.Decoded, Qwen.Decode(entry.Ids));
            Assert.Equal(entry.Nfc, Qwen.Decode(Qwen.Encode(entry.Text)));
        }
    }

    [Fact]
    public void The_committed_tokenizer_is_the_one_the_ids_were_made_with()
    {
        var (header, _) = TokenizerFixtures.ReadExpected("qwen3_expected.json");
        var sha = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(TokenizerFixtures.QwenTokenizerPath)));
        Assert.Equal((string)header["tokenizer_sha256"]!, sha);
    }

    [Fact]
    public void Vocabulary_and_special_tokens()
    {
        Assert.Equal(151669, Qwen.VocabSize);
        Assert.Equal(151387, Qwen.Merges.Count);
        Assert.Equal(151645, Qwen.EosTokenId);  // "<|im_end|>", from tokenizer_config.json
        Assert.Equal(151643, Qwen.PadTokenId);  // "<|endoftext|>"
        Assert.Null(Qwen.BosTokenId);
        Assert.Equal(151644, Qwen.SpecialTokenId("<|im_start|>"));
        Assert.Equal(151655, Qwen.SpecialTokenId("<|image_pad|>"));
        Assert.Equal("Ġworld", Qwen.IdToToken(1879));
        Assert.Equal(1879, Qwen.TokenToId("Ġworld"));
        Assert.True(Qwen.IsSpecial(151643));
        Assert.False(Qwen.IsSpecial(151667)); // "<think>" is an added token but not a special one
        Assert.Contains("tokenizer.json", Assert.Throws<KeyNotFoundException>(() => Qwen.SpecialTokenId("<|nope|>")).Message);
        // Qwen's split pattern runs on the hand-written scanner (the corpus test above is then its test too).
        Assert.True(Assert.IsType<RegexSplit>(Assert.Single(Qwen.PreTokenizers)).Regex.IsHandWritten);
        Assert.IsType<TextNormalizer.Nfc>(Qwen.Normalizer);
    }

    [Fact]
    public void Special_tokens_are_recognised_in_text_and_skipped_on_request()
    {
        var ids = Qwen.Encode("<|im_start|>user\nhi<|im_end|>");
        Assert.Equal([151644, 872, 198, 6023, 151645], ids);
        Assert.Equal("user\nhi", Qwen.Decode(ids, skipSpecialTokens: true));
        Assert.Equal("<think>", Qwen.Decode([151667], skipSpecialTokens: true));
        Assert.Equal(ids, Qwen.Encode("<|im_start|>user\nhi<|im_end|>", addSpecialTokens: true)); // Qwen adds none
    }

    [Fact]
    public void Threads_sharing_one_tokenizer_get_the_same_ids()
    {
        // RL encodes rollouts from several threads at once; the cache and split buffers must not mix them up.
        var (_, entries) = TokenizerFixtures.ReadExpected("qwen3_expected.json");
        var fresh = BpeTokenizer.Load(TokenizerFixtures.QwenTokenizerPath); // empty cache: threads race to fill it
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, entries.Count * 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var entry = entries[(i * 7) % entries.Count];
            if (!fresh.Encode(entry.Text).AsSpan().SequenceEqual(entry.Ids)) failures.Add(entry.Text);
        });
        Assert.Empty(failures);
    }

    [Fact]
    public void Decoding_an_unknown_id_names_it()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Qwen.Decode([5, 999999]));
        Assert.Contains("999999", e.Message);
    }

    [Fact]
    public void Generated_ids_beyond_the_vocabulary_are_skipped_as_transformers_skips_them()
    {
        // Qwen's embedding has 151936 rows for a smaller vocabulary: a model may pick a padding row.
        int im_end = Qwen.SpecialTokenId("<|im_end|>");
        Assert.Equal(Qwen.Decode([5, 6]), Qwen.DecodeGenerated([5, 151935, 6, im_end, 999999]));
        Assert.Equal("", Qwen.DecodeGenerated([151935]));
    }

    [Fact]
    public void Long_pieces_encode_as_when_short_and_the_cache_changes_nothing()
    {
        // Pieces beyond the cache limit and the scan/heap threshold, encoded twice (second time cached).
        foreach (var text in new[] { new string('=', 3000), new string('=', 1000), string.Concat(Enumerable.Repeat("ab", 400)), new string(' ', 700) + "x" })
        {
            var first = Qwen.Encode(text);
            Assert.Equal(first, Qwen.Encode(text));
            Assert.Equal(text, Qwen.Decode(first));
        }
        var sentence = "The answer is \\boxed{42}. 你好🎉";
        Assert.Equal(Qwen.Encode(sentence), Qwen.Encode(sentence));
    }
}
