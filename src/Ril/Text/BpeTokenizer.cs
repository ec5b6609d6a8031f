using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;

namespace Ril.Text;

/// <summary>
/// A byte-level BPE tokenizer read from a Hugging Face tokenizer.json (Qwen2/3, Llama 3, GPT-2 and
/// the files <see cref="BpeTrainer"/> writes). Encoding follows the Hugging Face pipeline:
/// added tokens are cut out of the raw text; the rest is normalised (NFC for Qwen), split by the
/// pre-tokenizer's regex, turned into UTF-8 bytes written as ByteLevel characters, and each piece is
/// merged by rank. Encodings of pieces are cached, because RL tokenises the same words over and over.
/// Thread-safe.
/// </summary>
public sealed class BpeTokenizer
{
    readonly Dictionary<string, int> idByToken;
    readonly string?[] tokenById;
    readonly byte[]?[] bytesById;     // what each id decodes to
    readonly BpeMerges merges;
    readonly AddedToken?[] addedById;
    readonly AddedTokenMatcher rawAddedTokens, normalizedAddedTokens;
    readonly AddedTokenMatcher rawPlainTokens, normalizedPlainTokens;   // the added tokens that are not special
    readonly TextNormalizer? normalizer;
    readonly IReadOnlyList<PreTokenizer> preTokenizers;
    readonly ByteLevelSettings? byteLevel;
    readonly RegexSplit? byteLevelRegex;
    readonly int[] idByByte = new int[256];  // byte-level: the vocabulary's token for each single byte
    readonly int? unknownId;
    readonly bool fuseUnknown, byteFallback, ignoreMerges, byteLevelDecoder;
    readonly int[] prefixIds, suffixIds;     // what add_special_tokens puts around a text

    // Piece text → ids. Bounded by an estimate of its size (chars plus a per-entry allowance), cleared
    // when full: simpler than LRU, and refilling costs little as common pieces come back at once.
    readonly ConcurrentDictionary<string, int[]> cache = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> cacheBySpan;
    long cachedSize;
    const int MaxCachedPieceLength = 1024, CacheEntryAllowance = 32;
    const long MaxCachedSize = 4_000_000; // ~10–20 MB

    /// <summary>The file this tokenizer was read from, or a description of where it came from.</summary>
    public string Source { get; }
    /// <summary>One past the largest id in the vocabulary or the added tokens.</summary>
    public int VocabSize => tokenById.Length;
    public IReadOnlyList<AddedToken> AddedTokens { get; }
    public BpeMerges Merges => merges;
    public TextNormalizer? Normalizer => normalizer;
    /// <summary>The split steps of the pre_tokenizer (ByteLevel excluded).</summary>
    public IReadOnlyList<PreTokenizer> PreTokenizers => preTokenizers;
    /// <summary>From tokenizer_config.json beside tokenizer.json when present, else from the added tokens.</summary>
    public int? EosTokenId { get; }
    public int? BosTokenId { get; }
    public int? PadTokenId { get; }

    BpeTokenizer(string source, JsonField root, JsonField? config)
    {
        Source = source;
        cacheBySpan = cache.GetAlternateLookup<ReadOnlySpan<char>>();
        var model = root["model"];
        var type = model.OptionalString("type");
        if (type != null && type != "BPE")
            throw model["type"].Error($"model type '{type}' is not supported (only BPE)");
        foreach (var name in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (model.OptionalString(name) is { Length: > 0 })
                throw model[name].Error("is not supported (byte-level BPE vocabularies leave it empty)");
        // "dropout" is ignored: it randomises merges for training-time augmentation; encoding here is exact.

        idByToken = new Dictionary<string, int>(StringComparer.Ordinal);
        int maxId = -1;
        var vocab = model["vocab"];
        idByToken.EnsureCapacity(vocab.Object().GetPropertyCount());
        // JsonElement directly: this loop and the merges' run 150k times for Qwen; JsonField only for errors.
        foreach (var property in vocab.Object().EnumerateObject())
        {
            if (property.Value.ValueKind != JsonValueKind.Number || !property.Value.TryGetInt32(out var id) || id < 0)
                throw vocab[property.Name].Error($"expected a non-negative integer id, found {property.Value.GetRawText()}");
            idByToken[property.Name] = id;
            maxId = Math.Max(maxId, id);
        }

        var added = new List<AddedToken>();
        if (root.TryGet("added_tokens", out var addedField))
            foreach (var item in addedField.Items())
            {
                bool special = item.OptionalBool("special", false);
                var token = new AddedToken(item["id"].Int(), item["content"].String(), special,
                    item.OptionalBool("single_word", false), item.OptionalBool("lstrip", false),
                    item.OptionalBool("rstrip", false), item.OptionalBool("normalized", !special));
                if (token.Id < 0) throw item["id"].Error("ids must not be negative");
                if (token.Content.Length == 0) throw item["content"].Error("must not be empty");
                added.Add(token);
                maxId = Math.Max(maxId, token.Id);
            }
        AddedTokens = added;
        // Ids size the lookup arrays: a sparse id far beyond the number of tokens would allocate gigabytes.
        long tokens = (long)idByToken.Count + added.Count;
        if (maxId >= 4 * tokens + 1024)
            throw new TokenizerFormatException(source, null, $"a token id of {maxId} is far beyond the {tokens} tokens the file defines (ids are expected to be dense)");

        tokenById = new string?[maxId + 1];
        foreach (var (token, id) in idByToken) tokenById[id] = token;
        addedById = new AddedToken?[maxId + 1];
        foreach (var token in added)
        {
            addedById[token.Id] = token;
            tokenById[token.Id] = token.Content;
            idByToken[token.Content] = token.Id;
        }

        merges = ReadMerges(model["merges"]);
        normalizer = root.TryGet("normalizer", out var normalizerField) ? TextNormalizer.FromJson(normalizerField) : null;
        (preTokenizers, byteLevel) = root.TryGet("pre_tokenizer", out var preField) ? PreTokenizerJson.Read(preField) : ([], null);
        if (byteLevel is { UseRegex: true })
            byteLevelRegex = new RegexSplit(new CodePointRegex(PreTokenizer.Gpt2Pattern), SplitBehavior.Isolated, invert: false);
        if (byteLevel != null)
            for (int b = 0; b < 256; b++)
                // A byte the vocabulary lacks (SmolVLM's has no 0x04, among others) encodes as the unknown token, or as
                // nothing without one, as Hugging Face's BPE does.
                idByByte[b] = idByToken.TryGetValue(ByteLevel.ByteToChar[b].ToString(), out var id) ? id : -1;

        rawAddedTokens = new AddedTokenMatcher(added.Where(t => !t.Normalized || normalizer == null).Select(t => (t.Content, t)));
        normalizedAddedTokens = new AddedTokenMatcher(added.Where(t => t.Normalized && normalizer != null).Select(t => (normalizer!.Normalize(t.Content), t)));
        rawPlainTokens = new AddedTokenMatcher(added.Where(t => !t.Special && (!t.Normalized || normalizer == null)).Select(t => (t.Content, t)));
        normalizedPlainTokens = new AddedTokenMatcher(added.Where(t => !t.Special && t.Normalized && normalizer != null).Select(t => (normalizer!.Normalize(t.Content), t)));

        if (model.OptionalString("unk_token") is { } unk)
            unknownId = idByToken.TryGetValue(unk, out var u) ? u : throw model["unk_token"].Error($"'{unk}' is not in the vocabulary");
        fuseUnknown = model.OptionalBool("fuse_unk", false);
        byteFallback = model.OptionalBool("byte_fallback", false);
        ignoreMerges = model.OptionalBool("ignore_merges", false);

        byteLevelDecoder = ReadDecoder(root);
        (prefixIds, suffixIds) = root.TryGet("post_processor", out var post) ? ReadPostProcessor(post) : ([], []);

        bytesById = new byte[]?[tokenById.Length];
        for (int id = 0; id < tokenById.Length; id++)
        {
            var token = tokenById[id];
            if (token == null) continue;
            bytesById[id] = addedById[id] != null || !byteLevelDecoder ? Encoding.UTF8.GetBytes(token) : ByteLevel.TokenBytes(token);
        }

        EosTokenId = SpecialFromConfig(config, "eos_token") ?? IdOf("<|endoftext|>");
        BosTokenId = SpecialFromConfig(config, "bos_token");
        PadTokenId = SpecialFromConfig(config, "pad_token");
    }

    /// <summary>Reads tokenizer.json, and tokenizer_config.json beside it when there is one (for eos/bos/pad).</summary>
    public static BpeTokenizer Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"tokenizer file not found: {path}", path);
        using var doc = ParseJson(path, File.ReadAllBytes(path));
        var configPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "tokenizer_config.json");
        using var config = File.Exists(configPath) ? ParseJson(configPath, File.ReadAllBytes(configPath)) : null;
        return new BpeTokenizer(path, JsonField.Root(doc.RootElement, path),
            config == null ? null : JsonField.Root(config.RootElement, configPath));
    }

    /// <summary>Reads a tokenizer from the text of a tokenizer.json; <paramref name="source"/> names it in errors.</summary>
    public static BpeTokenizer FromJson(string json, string source = "tokenizer.json")
    {
        using var doc = ParseJson(source, Encoding.UTF8.GetBytes(json));
        return new BpeTokenizer(source, JsonField.Root(doc.RootElement, source), null);
    }

    static JsonDocument ParseJson(string file, byte[] bytes)
    {
        try { return JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 256 }); }
        catch (JsonException e)
        {
            throw new TokenizerFormatException(file, null,
                $"invalid JSON at line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1} ({e.Message.Split(" LineNumber")[0].TrimEnd('.')})", e);
        }
    }

    BpeMerges ReadMerges(JsonField field)
    {
        var result = new BpeMerges(field.Kind == JsonValueKind.Array ? field.Value.GetArrayLength() : 0);
        int index = 0;
        foreach (var item in field.Items().Select(f => f.Value))
        {
            string? left = null, right = null;
            if (item.ValueKind == JsonValueKind.String)
            {
                // The older form, "left right": byte-level tokens never contain a space.
                var text = item.GetString()!;
                int space = text.IndexOf(' ');
                if (space > 0 && space < text.Length - 1 && text.IndexOf(' ', space + 1) < 0)
                    (left, right) = (text[..space], text[(space + 1)..]);
            }
            else if (item.ValueKind == JsonValueKind.Array && item.GetArrayLength() == 2
                     && item[0].ValueKind == JsonValueKind.String && item[1].ValueKind == JsonValueKind.String)
                (left, right) = (item[0].GetString()!, item[1].GetString()!);
            if (left == null || right == null)
                throw new JsonField(item, $"{field.Path}[{index}]", Source).Error(
                    $"expected \"left right\" (two tokens, one space) or [left, right], found {item.GetRawText()}");
            result.Add(VocabId(field, index, left), VocabId(field, index, right), VocabId(field, index, left + right));
            index++;
        }
        return result;
    }

    int VocabId(JsonField merges, int index, string token) =>
        idByToken.TryGetValue(token, out var id) ? id
            : throw new TokenizerFormatException(Source, $"{merges.Path}[{index}]", $"'{token}' is not in model.vocab");

    static bool ReadDecoder(JsonField root)
    {
        if (!root.TryGet("decoder", out var decoder)) return false;
        var type = decoder["type"].String();
        return type switch
        {
            "ByteLevel" => true,
            _ => throw decoder["type"].Error($"decoder '{type}' is not supported (only ByteLevel, or null to join tokens with spaces)"),
        };
    }

    (int[] Prefix, int[] Suffix) ReadPostProcessor(JsonField field)
    {
        var type = field["type"].String();
        switch (type)
        {
            case "ByteLevel": return ([], []); // only trims offsets, which we do not report
            case "Sequence":
            {
                var prefix = new List<int>();
                var suffix = new List<int>();
                foreach (var step in field["processors"].Items())
                {
                    var (p, s) = ReadPostProcessor(step);
                    prefix.AddRange(p);
                    suffix.InsertRange(0, s);
                }
                return (prefix.ToArray(), suffix.ToArray());
            }
            case "TemplateProcessing":
            {
                var specials = field["special_tokens"];
                var prefix = new List<int>();
                var suffix = new List<int>();
                bool sawSequence = false;
                foreach (var piece in field["single"].Items())
                {
                    if (piece.TryGet("Sequence", out _)) { sawSequence = true; continue; }
                    var name = piece["SpecialToken"]["id"].String();
                    if (!specials.TryGet(name, out var special)) throw piece["SpecialToken"]["id"].Error($"'{name}' is not listed in special_tokens");
                    (sawSequence ? suffix : prefix).AddRange(special["ids"].Items().Select(i => i.Int()));
                }
                return (prefix.ToArray(), suffix.ToArray());
            }
            case "BertProcessing" or "RobertaProcessing":
                return ([TokenPairId(field["cls"])], [TokenPairId(field["sep"])]);
            default:
                throw field["type"].Error($"post-processor '{type}' is not supported (supported: ByteLevel, TemplateProcessing, BertProcessing, RobertaProcessing, Sequence)");
        }
    }

    static int TokenPairId(JsonField pair)
    {
        var items = pair.Items().ToArray();
        return items.Length == 2 ? items[1].Int() : throw pair.Error("expected [token, id]");
    }

    int? SpecialFromConfig(JsonField? config, string name)
    {
        if (config is not { } c || !c.TryGet(name, out var field)) return null;
        var content = field.Kind == JsonValueKind.Object ? field["content"].String() : field.String();
        return IdOf(content) ?? throw field.Error($"'{content}' is not a token of {Path.GetFileName(Source)}");
    }

    int? IdOf(string token) => idByToken.TryGetValue(token, out var id) ? id : null;

    // ---------------------------------------------------------------------------------------------
    // Vocabulary

    public int? TokenToId(string token) => IdOf(token);

    /// <summary>The token as the vocabulary writes it (ByteLevel characters: " the" is "Ġthe").</summary>
    public string? IdToToken(int id) => (uint)id < (uint)tokenById.Length ? tokenById[id] : null;

    /// <summary>The id of an added or special token such as "&lt;|im_end|&gt;"; throws if the vocabulary lacks it.</summary>
    public int SpecialTokenId(string content) =>
        addedById.FirstOrDefault(t => t?.Content == content)?.Id ?? IdOf(content)
        ?? throw new KeyNotFoundException($"{Path.GetFileName(Source)} has no token '{content}'");

    public bool IsSpecial(int id) => (uint)id < (uint)addedById.Length && addedById[id] is { Special: true };

    // ---------------------------------------------------------------------------------------------
    // Encoding

    [ThreadStatic] static List<(TextRange Range, AddedToken? Token)>? sectionBuffer, subsectionBuffer;
    [ThreadStatic] static List<TextRange>? pieceBuffer, pieceBuffer2;

    /// <summary>
    /// Token ids of text. Added and special tokens written in the text are recognised; with
    /// <paramref name="addSpecialTokens"/>, the post-processor's tokens (a BOS for Llama; none for Qwen)
    /// are added around it.
    /// </summary>
    public int[] Encode(string text, bool addSpecialTokens = false)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        Encode(text, ids, addSpecialTokens);
        return ids.ToArray();
    }

    /// <summary>
    /// Appends the ids of text to <paramref name="ids"/>. With <paramref name="specialTokensAsText"/> a special token
    /// written in the text (say "&lt;|im_start|&gt;" in a user's message) is encoded as the characters it is made of, never
    /// as the control token (transformers' split_special_tokens).
    /// </summary>
    public void Encode(string text, List<int> ids, bool addSpecialTokens = false, bool specialTokensAsText = false)
    {
        if (addSpecialTokens) ids.AddRange(prefixIds);
        var (raw, normalized) = specialTokensAsText ? (rawPlainTokens, normalizedPlainTokens) : (rawAddedTokens, normalizedAddedTokens);
        var sections = sectionBuffer ??= new();
        sections.Clear();
        if (raw.IsEmpty) sections.Add((new TextRange(0, text.Length), null));
        else raw.Split(text, sections);
        // Iterate over a copy of the count: encoding a section reuses the other buffers, not this one.
        int count = sections.Count;
        for (int i = 0; i < count; i++)
        {
            var (range, token) = sections[i];
            if (token != null) { ids.Add(token.Id); continue; }
            var section = range.Length == text.Length ? text : text.Substring(range.Start, range.Length);
            if (normalizer != null) section = normalizer.Normalize(section);
            if (normalized.IsEmpty) { EncodeSection(section, new TextRange(0, section.Length), ids); continue; }
            var subsections = subsectionBuffer ??= new();
            subsections.Clear();
            normalized.Split(section, subsections);
            foreach (var (subRange, subToken) in subsections)
                if (subToken != null) ids.Add(subToken.Id);
                else EncodeSection(section, subRange, ids);
        }
        if (addSpecialTokens) ids.AddRange(suffixIds);
    }

    /// <summary>Pre-tokenizes one stretch of text without added tokens and encodes each piece.</summary>
    void EncodeSection(string text, TextRange range, List<int> ids)
    {
        if (range.Length == 0) return;
        var pieces = SplitSection(ref text, range);
        foreach (var piece in pieces) EncodePiece(text.AsSpan(piece.Start, piece.Length), ids);
    }

    /// <summary>
    /// The pieces BPE encodes one by one (after normalisation and the pre-tokenizer; added tokens are
    /// left out), as text: what Hugging Face's pre_tokenize_str shows, before the ByteLevel mapping.
    /// </summary>
    public IReadOnlyList<string> PreTokenize(string text)
    {
        var result = new List<string>();
        var sections = new List<(TextRange Range, AddedToken? Token)>();
        if (rawAddedTokens.IsEmpty) sections.Add((new TextRange(0, text.Length), null));
        else rawAddedTokens.Split(text, sections);
        foreach (var (range, token) in sections)
        {
            if (token != null) continue;
            var section = text.Substring(range.Start, range.Length);
            if (normalizer != null) section = normalizer.Normalize(section);
            var subsections = new List<(TextRange Range, AddedToken? Token)>();
            if (normalizedAddedTokens.IsEmpty) subsections.Add((new TextRange(0, section.Length), null));
            else normalizedAddedTokens.Split(section, subsections);
            foreach (var (subRange, subToken) in subsections)
            {
                if (subToken != null || subRange.Length == 0) continue;
                var sectionText = section;
                foreach (var piece in SplitSection(ref sectionText, subRange)) result.Add(sectionText.Substring(piece.Start, piece.Length));
            }
        }
        return result;
    }

    /// <summary>Runs the pre-tokenizer over a range of text; ByteLevel's add_prefix_space may replace the text.</summary>
    List<TextRange> SplitSection(ref string text, TextRange range)
    {
        var pieces = pieceBuffer ??= new();
        var next = pieceBuffer2 ??= new();
        pieces.Clear();
        pieces.Add(range);
        foreach (var step in preTokenizers)
        {
            next.Clear();
            step.Split(text, pieces, next);
            (pieces, next) = (next, pieces);
        }
        if (byteLevel is { AddPrefixSpace: true })
            (text, pieces) = WithPrefixSpaces(text, pieces);
        if (byteLevelRegex != null)
        {
            next.Clear();
            byteLevelRegex.Split(text, pieces, next);
            (pieces, next) = (next, pieces);
        }
        return pieces;
    }

    // ByteLevel's add_prefix_space: each piece that does not start with a space gets one (" Hello" and
    // "Hello" then encode alike, as GPT-2 intended).
    static (string, List<TextRange>) WithPrefixSpaces(string text, List<TextRange> pieces)
    {
        var sb = new StringBuilder(text.Length + pieces.Count);
        var result = new List<TextRange>(pieces.Count);
        foreach (var p in pieces)
        {
            int start = sb.Length;
            if (text[p.Start] != ' ') sb.Append(' ');
            sb.Append(text, p.Start, p.Length);
            result.Add(new TextRange(start, sb.Length - start));
        }
        return (sb.ToString(), result);
    }

    void EncodePiece(ReadOnlySpan<char> piece, List<int> ids)
    {
        if (piece.Length == 0) return;
        if (cacheBySpan.TryGetValue(piece, out var cached)) { ids.AddRange(cached); return; }
        var encoded = byteLevel != null ? EncodeBytes(piece) : EncodeChars(piece);
        if (piece.Length <= MaxCachedPieceLength && cacheBySpan.TryAdd(piece, encoded)
            && Interlocked.Add(ref cachedSize, piece.Length + encoded.Length + CacheEntryAllowance) > MaxCachedSize)
        {
            cache.Clear();
            Interlocked.Exchange(ref cachedSize, 0);
        }
        ids.AddRange(encoded);
    }

    int[] EncodeBytes(ReadOnlySpan<char> piece)
    {
        if (ignoreMerges && idByToken.TryGetValue(ByteLevel.Encode(piece), out var whole)) return [whole];
        int maxBytes = Encoding.UTF8.GetMaxByteCount(piece.Length);
        Span<byte> bytes = maxBytes <= 1024 ? stackalloc byte[maxBytes] : new byte[maxBytes];
        int n = Encoding.UTF8.GetBytes(piece, bytes);
        Span<int> symbols = n <= 1024 ? stackalloc int[n] : new int[n];
        int count = 0;
        for (int i = 0; i < n; i++)
            if (idByByte[bytes[i]] is >= 0 and var id) symbols[count++] = id;
            else if (unknownId is int unk && !(fuseUnknown && count > 0 && symbols[count - 1] == unk)) symbols[count++] = unk;
        symbols = symbols[..count];
        return symbols[..merges.Apply(symbols)].ToArray();
    }

    // Vocabularies of characters rather than bytes: unknown characters become byte tokens ("<0x0A>")
    // when byte_fallback is set, else the unknown token (consecutive ones fused if fuse_unk), else nothing.
    int[] EncodeChars(ReadOnlySpan<char> piece)
    {
        if (ignoreMerges && idByToken.TryGetValue(piece.ToString(), out var whole)) return [whole];
        var symbols = new List<int>(piece.Length);
        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i < piece.Length; i++)
        {
            int width = char.IsHighSurrogate(piece[i]) && i + 1 < piece.Length && char.IsLowSurrogate(piece[i + 1]) ? 2 : 1;
            var character = piece.Slice(i, width).ToString();
            i += width - 1;
            if (idByToken.TryGetValue(character, out var id)) { symbols.Add(id); continue; }
            if (byteFallback)
            {
                int n = Encoding.UTF8.GetBytes(character, utf8);
                var byteIds = new List<int>();
                for (int b = 0; b < n; b++)
                    if (idByToken.TryGetValue($"<0x{utf8[b]:X2}>", out var byteId)) byteIds.Add(byteId);
                if (byteIds.Count == n) { symbols.AddRange(byteIds); continue; }
            }
            if (unknownId is int unk && !(fuseUnknown && symbols.Count > 0 && symbols[^1] == unk)) symbols.Add(unk);
        }
        var array = symbols.ToArray();
        return array[..merges.Apply(array)];
    }

    // ---------------------------------------------------------------------------------------------
    // Decoding

    /// <summary>
    /// Generated ids as text, as transformers decodes a model's output with skip_special_tokens: special tokens left out,
    /// and ids the vocabulary does not have (the padding rows of an embedding larger than the tokenizer, which a model may
    /// still pick) skipped, as the tokenizers library skips them, instead of failing the request.
    /// </summary>
    public string DecodeGenerated(ReadOnlySpan<int> ids)
    {
        var known = new List<int>(ids.Length);
        foreach (var id in ids) if (IdToToken(id) is not null) known.Add(id);
        return Decode(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(known), skipSpecialTokens: true);
    }

    /// <summary>
    /// Text of token ids: the bytes of every token, read as UTF-8 (a sequence cut inside a character
    /// shows U+FFFD there). Special tokens are written out unless <paramref name="skipSpecialTokens"/>.
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false)
    {
        if (!byteLevelDecoder) return DecodeJoined(ids, skipSpecialTokens);
        var bytes = new List<byte>(ids.Length * 4);
        foreach (var id in ids)
        {
            if ((uint)id >= (uint)bytesById.Length || bytesById[id] is not { } tokenBytes)
                throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} is not in {Path.GetFileName(Source)} (vocabulary size {VocabSize})");
            if (skipSpecialTokens && IsSpecial(id)) continue;
            bytes.AddRange(tokenBytes);
        }
        return Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
    }

    // Without a decoder, Hugging Face joins the tokens with spaces.
    string DecodeJoined(ReadOnlySpan<int> ids, bool skipSpecialTokens)
    {
        var tokens = new List<string>(ids.Length);
        foreach (var id in ids)
        {
            var token = IdToToken(id) ?? throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} is not in {Path.GetFileName(Source)}");
            if (!(skipSpecialTokens && IsSpecial(id))) tokens.Add(token);
        }
        return string.Join(' ', tokens);
    }
}
