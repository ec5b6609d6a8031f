using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Ril.Tensors.IO;

namespace Ril.Text;

/// <summary>What <see cref="BpeTrainer"/> learns and how the tokenizer it writes splits text.</summary>
public sealed record BpeTrainerOptions
{
    /// <summary>Qwen2/Qwen3's split: letters with one leading non-letter, digits one by one, punctuation runs, newlines.</summary>
    public const string QwenPattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>ChatML's control tokens and the image placeholders <see cref="ChatTemplate"/> uses, Qwen's spelling.</summary>
    public static readonly IReadOnlyList<string> DefaultSpecialTokens =
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>"];

    /// <summary>Tokens in all: the 256 bytes, the learned merges, and the special tokens.</summary>
    public int VocabSize { get; init; } = 4096;
    /// <summary>A pair seen fewer times than this is not merged (training stops early instead).</summary>
    public int MinFrequency { get; init; } = 2;
    public IReadOnlyList<string> SpecialTokens { get; init; } = DefaultSpecialTokens;
    public string SplitPattern { get; init; } = QwenPattern;
    /// <summary>Apply NFC before splitting (as Qwen does), in training and in the written tokenizer.</summary>
    public bool Nfc { get; init; } = true;
}

/// <summary>
/// Learns a byte-level BPE vocabulary from a corpus (Sennrich et al. 2016; GPT-2's byte alphabet):
/// starting from the 256 bytes, repeatedly merge the most frequent adjacent pair of tokens within
/// pre-tokenized words (ties: the pair of lowest ids, as Hugging Face's trainer does), until the
/// vocabulary is full or no pair is frequent enough. The result is written as a tokenizer.json that
/// <see cref="BpeTokenizer"/> and Hugging Face's libraries both read.
/// </summary>
public static class BpeTrainer
{
    public static BpeVocabulary Train(IEnumerable<string> texts, BpeTrainerOptions? options = null)
    {
        options ??= new BpeTrainerOptions();
        int mergeBudget = options.VocabSize - 256 - options.SpecialTokens.Count;
        if (mergeBudget < 0)
            throw new ArgumentException($"vocabulary size {options.VocabSize} is below the 256 bytes plus {options.SpecialTokens.Count} special tokens");

        // Words: pieces as the final tokenizer will cut them (same normaliser, split and special tokens),
        // each with its count. Symbols start as byte ids 0..255.
        var splitter = new BpeVocabulary(ByteTokens(), [], options).ToTokenizer();
        var wordIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        var words = new List<int[]>();
        var counts = new List<long>();
        foreach (var text in texts)
            foreach (var piece in splitter.PreTokenize(text))
            {
                if (wordIndex.TryGetValue(piece, out var w)) { counts[w]++; continue; }
                wordIndex[piece] = words.Count;
                words.Add(Encoding.UTF8.GetBytes(piece).Select(b => (int)b).ToArray());
                counts.Add(1);
            }

        var tokens = ByteTokens();
        var idByToken = tokens.Select((t, i) => (t, i)).ToDictionary(x => x.t, x => x.i, StringComparer.Ordinal);
        var merges = new List<(string Left, string Right)>();
        var pairCounts = new Dictionary<long, long>(BpeMerges.PairComparer.Instance);
        var pairWords = new Dictionary<long, HashSet<int>>(BpeMerges.PairComparer.Instance);
        for (int w = 0; w < words.Count; w++) AddPairs(words[w], counts[w], w, pairCounts, pairWords, touched: null);

        // Most frequent first; among equals, lowest (left, right) ids. Entries go stale as counts change:
        // a popped entry whose count is out of date is pushed again with the current one.
        var queue = new PriorityQueue<long, (long Count, long Pair)>(
            Comparer<(long Count, long Pair)>.Create((a, b) => a.Count != b.Count ? b.Count.CompareTo(a.Count) : a.Pair.CompareTo(b.Pair)));
        foreach (var (pair, count) in pairCounts) queue.Enqueue(pair, (count, pair));
        var touched = new HashSet<long>();

        while (tokens.Count < 256 + mergeBudget && queue.TryDequeue(out var best, out var priority))
        {
            long current = pairCounts.GetValueOrDefault(best);
            if (current != priority.Count)
            {
                if (current > 0) queue.Enqueue(best, (current, best));
                continue;
            }
            if (current < options.MinFrequency) break;
            int left = (int)(best >> 32), right = (int)best;
            string merged = tokens[left] + tokens[right];
            // Two different splits can spell the same token; it keeps its first id.
            if (!idByToken.TryGetValue(merged, out int mergedId))
            {
                mergedId = tokens.Count;
                tokens.Add(merged);
                idByToken[merged] = mergedId;
            }
            merges.Add((tokens[left], tokens[right]));

            touched.Clear();
            foreach (int w in pairWords[best].ToArray())
            {
                var symbols = words[w];
                if (!Contains(symbols, left, right)) continue;
                RemovePairs(symbols, counts[w], pairCounts, touched);
                words[w] = symbols = MergeAll(symbols, left, right, mergedId);
                AddPairs(symbols, counts[w], w, pairCounts, pairWords, touched);
            }
            pairWords.Remove(best);
            foreach (var pair in touched)
                if (pairCounts.GetValueOrDefault(pair) is > 0 and var count) queue.Enqueue(pair, (count, pair));
        }
        return new BpeVocabulary(tokens, merges, options);
    }

    static List<string> ByteTokens() => Enumerable.Range(0, 256).Select(b => ByteLevel.ByteToChar[b].ToString()).ToList();

    static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    static bool Contains(int[] symbols, int left, int right)
    {
        for (int i = 0; i + 1 < symbols.Length; i++)
            if (symbols[i] == left && symbols[i + 1] == right) return true;
        return false;
    }

    // Left to right, as encoding applies a merge: "aaa" with (a, a) becomes "aa" "a".
    static int[] MergeAll(int[] symbols, int left, int right, int merged)
    {
        var result = new List<int>(symbols.Length);
        for (int i = 0; i < symbols.Length; i++)
        {
            if (i + 1 < symbols.Length && symbols[i] == left && symbols[i + 1] == right) { result.Add(merged); i++; }
            else result.Add(symbols[i]);
        }
        return result.ToArray();
    }

    static void AddPairs(int[] symbols, long count, int word, Dictionary<long, long> pairCounts,
                         Dictionary<long, HashSet<int>> pairWords, HashSet<long>? touched)
    {
        for (int i = 0; i + 1 < symbols.Length; i++)
        {
            long pair = Key(symbols[i], symbols[i + 1]);
            pairCounts[pair] = pairCounts.GetValueOrDefault(pair) + count;
            if (!pairWords.TryGetValue(pair, out var set)) pairWords[pair] = set = new HashSet<int>();
            set.Add(word);
            touched?.Add(pair);
        }
    }

    static void RemovePairs(int[] symbols, long count, Dictionary<long, long> pairCounts, HashSet<long> touched)
    {
        for (int i = 0; i + 1 < symbols.Length; i++)
        {
            long pair = Key(symbols[i], symbols[i + 1]);
            pairCounts[pair] -= count;
            touched.Add(pair);
        }
    }
}

/// <summary>A learned byte-level BPE vocabulary: tokens in id order (bytes, merges, then special tokens) and merges in rank order.</summary>
public sealed class BpeVocabulary
{
    public IReadOnlyList<string> Tokens { get; }
    public IReadOnlyList<(string Left, string Right)> Merges { get; }
    public BpeTrainerOptions Options { get; }
    /// <summary>Tokens plus special tokens.</summary>
    public int VocabSize => Tokens.Count + Options.SpecialTokens.Count;

    public BpeVocabulary(IReadOnlyList<string> tokens, IReadOnlyList<(string Left, string Right)> merges, BpeTrainerOptions options)
    {
        Tokens = tokens; Merges = merges; Options = options;
    }

    public BpeTokenizer ToTokenizer(string source = "trained tokenizer") => BpeTokenizer.FromJson(ToJson(), source);

    public void Save(string path) => AtomicFile.Write(path, stream => stream.Write(Encoding.UTF8.GetBytes(ToJson())));

    /// <summary>
    /// tokenizer.json in the layout of Qwen's own: NFC, a Split with the regex then ByteLevel without its
    /// regex, ByteLevel decoder, special tokens as added tokens after the vocabulary. Merges are written
    /// "left right", the form every version of Hugging Face's library reads (byte-level tokens have no spaces).
    /// </summary>
    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteNull("padding");
            w.WriteStartArray("added_tokens");
            for (int i = 0; i < Options.SpecialTokens.Count; i++)
            {
                w.WriteStartObject();
                w.WriteNumber("id", Tokens.Count + i);
                w.WriteString("content", Options.SpecialTokens[i]);
                w.WriteBoolean("single_word", false);
                w.WriteBoolean("lstrip", false);
                w.WriteBoolean("rstrip", false);
                w.WriteBoolean("normalized", false);
                w.WriteBoolean("special", true);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            if (Options.Nfc) { w.WriteStartObject("normalizer"); w.WriteString("type", "NFC"); w.WriteEndObject(); }
            else w.WriteNull("normalizer");
            w.WriteStartObject("pre_tokenizer");
            w.WriteString("type", "Sequence");
            w.WriteStartArray("pretokenizers");
            w.WriteStartObject();
            w.WriteString("type", "Split");
            w.WriteStartObject("pattern");
            w.WriteString("Regex", Options.SplitPattern);
            w.WriteEndObject();
            w.WriteString("behavior", "Isolated");
            w.WriteBoolean("invert", false);
            w.WriteEndObject();
            WriteByteLevel(w, null);
            w.WriteEndArray();
            w.WriteEndObject();
            WriteByteLevel(w, "post_processor");
            WriteByteLevel(w, "decoder");
            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteNull("dropout");
            w.WriteNull("unk_token");
            w.WriteString("continuing_subword_prefix", "");
            w.WriteString("end_of_word_suffix", "");
            w.WriteBoolean("fuse_unk", false);
            w.WriteBoolean("byte_fallback", false);
            w.WriteBoolean("ignore_merges", false);
            w.WriteStartObject("vocab");
            for (int id = 0; id < Tokens.Count; id++) w.WriteNumber(Tokens[id], id);
            w.WriteEndObject();
            w.WriteStartArray("merges");
            foreach (var (left, right) in Merges) w.WriteStringValue($"{left} {right}");
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    static void WriteByteLevel(Utf8JsonWriter w, string? name)
    {
        if (name == null) w.WriteStartObject(); else w.WriteStartObject(name);
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", false);
        w.WriteBoolean("use_regex", false);
        w.WriteEndObject();
    }
}
