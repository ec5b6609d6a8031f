using System.Text;
using System.Text.Json.Nodes;
using Ril.Data.Images;
using Ril.Tensors;
using Ril.Text;
using Ril.Text.Jinja;

namespace Ril.Models.Families.SmolVlm;

/// <summary>
/// SmolVLM's processor: its chat template's text, each image expanded by its grid into &lt;fake_token_around_image&gt;,
/// &lt;row_r_col_c&gt; / &lt;global-img&gt; and image_seq_len &lt;image&gt; tokens, and the tiles of every image
/// (docs/spec/SMOLVLM.md, "Prompt" and "Image processor"). A prompt holds one &lt;image&gt; per image until
/// <see cref="ExpandImages"/> (called by requests and question prompts) gives each image its text.
/// </summary>
public sealed class SmolVlmProcessor : IProcessor
{
    public BpeTokenizer Tokenizer { get; }
    public SmolVlmImageProcessor Images { get; }
    public SmolVlmTokens Tokens { get; }
    public IReadOnlyList<int> StopTokens { get; }
    public int PadId { get; }
    readonly int _imageTokenId;

    /// <summary>The checkpoint's chat template (chat_template.json); null: SmolVLM's, by hand.</summary>
    public HfChatTemplate? Template { get; }

    public SmolVlmProcessor(BpeTokenizer tokenizer, SmolVlmImageProcessor images, int imageTokenId, SmolVlmTokens? tokens = null, HfChatTemplate? template = null)
    {
        (Tokenizer, Images, _imageTokenId, Tokens, Template) = (tokenizer, images, imageTokenId, tokens ?? new SmolVlmTokens(), template);
        StopTokens = new int?[] { tokenizer.TokenToId(Tokens.EndOfUtterance), tokenizer.EosTokenId }
            .Where(t => t is not null).Select(t => t!.Value).Distinct().ToArray();
        PadId = tokenizer.PadTokenId ?? StopTokens.FirstOrDefault();
    }

    /// <summary>
    /// The conversation through the checkpoint's chat template (every message's content as parts, as SmolVLM's template
    /// reads it), each image one &lt;image&gt;. Without a template, SmolVLM's by hand: "&lt;|im_start|&gt;", then per
    /// message the role capitalised, ":" when its first item is an image else ": ", its items, "&lt;end_of_utterance&gt;\n";
    /// then "Assistant:".
    /// </summary>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true)
    {
        if (Template is not null) return Template.Apply(HfMessages.Of(messages, ChatTemplate.DefaultImageMarker, alwaysParts: true), addGenerationPrompt);
        var sb = new StringBuilder("<|im_start|>");
        foreach (var m in messages)
        {
            var role = m.Role.Length == 0 ? "" : char.ToUpperInvariant(m.Role[0]) + m.Role[1..].ToLowerInvariant();   // Jinja's capitalize
            sb.Append(role).Append(m.Content.StartsWith(ChatTemplate.DefaultImageMarker, StringComparison.Ordinal) ? ":" : ": ");
            sb.Append(m.Content.Replace(ChatTemplate.DefaultImageMarker, Tokens.Image)).Append(Tokens.EndOfUtterance).Append('\n');
        }
        if (addGenerationPrompt) sb.Append("Assistant:");
        return sb.ToString();
    }

    /// <summary>Token ids of the conversation, one &lt;image&gt; per image (<see cref="ExpandImages"/> gives each its text).</summary>
    public int[] EncodeChat(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true) =>
        ChatEncoding.Encode(Tokenizer, Render(messages, addGenerationPrompt), messages);

    /// <summary>Token ids of a conversation whose image markers stand, in order, for <paramref name="images"/>, each expanded.</summary>
    public int[] EncodeChat(IReadOnlyList<ChatMessage> messages, IReadOnlyList<Image> images, bool addGenerationPrompt = true) =>
        ExpandImages(EncodeChat(messages, addGenerationPrompt), images);

    public int[] EncodeRaw(string text, int images = 0) => Tokenizer.Encode(string.Concat(Enumerable.Repeat(Tokens.Image, images)) + text);

    /// <summary>
    /// The prompt with its i-th &lt;image&gt; replaced by image i's text. Each piece of that text starts and ends with an
    /// added token, so encoding it alone gives the ids the whole string would. A prompt already expanded is kept.
    /// </summary>
    public int[] ExpandImages(int[] promptIds, IReadOnlyList<Image> images)
    {
        int imageId = Tokenizer.TokenToId(Tokens.Image) ?? _imageTokenId;
        int markers = promptIds.Count(id => id == imageId);
        if (images.Count == 0 || markers != images.Count) return promptIds;
        var ids = new List<int>();
        int next = 0;
        foreach (var id in promptIds)
        {
            if (id != imageId) { ids.Add(id); continue; }
            var (rows, cols) = Grid(images[next++]);
            ids.AddRange(Tokenizer.Encode(Images.ImageText(rows, cols, Tokens)));
        }
        return [.. ids];
    }

    /// <summary>An image's split grid (rows, cols; 0, 0 unsplit), from its size alone.</summary>
    public (int Rows, int Cols) Grid(Image image)
    {
        if (!Images.DoImageSplitting) return (0, 0);
        var (w, h) = Images.DoResize ? SmolVlmImageProcessor.LongestEdgeSize(image.Width, image.Height, Images.LongestEdge) : (image.Width, image.Height);
        (w, h) = SmolVlmImageProcessor.TileMultipleSize(w, h, Images.MaxImageSize);
        return h <= Images.MaxImageSize && w <= Images.MaxImageSize ? (0, 0) : (h / Images.MaxImageSize, w / Images.MaxImageSize);
    }

    /// <summary>Tiles [N, 3, M, M] of all images in order, each image's grid [rows, cols]; no mask: every tile is whole.</summary>
    public PixelInputs? Pixels(IReadOnlyList<Image> images)
    {
        if (images.Count == 0) return null;
        var values = new List<float>();
        var grids = new List<int[]>();
        int tiles = 0, m = Images.MaxImageSize;
        foreach (var image in images)
        {
            var (each, rows, cols) = Images.Split(image);
            foreach (var tile in each) values.AddRange(Images.Normalise(tile));
            tiles += each.Count;
            grids.Add([rows, cols]);
        }
        return new PixelInputs(Tensor.FromArray(values.ToArray(), tiles, 3, m, m), grids);
    }

    public int PlaceholdersFor(IReadOnlyList<Image> images) =>
        images.Sum(image => Grid(image) is var (rows, cols) ? (rows * cols + 1) * Images.ImageSeqLen : 0);

    public string Decode(ReadOnlySpan<int> ids) => Tokenizer.DecodeGenerated(ids);

    public void Check()
    {
        foreach (var token in new[] { Tokens.Image, Tokens.FakeAroundImage, Tokens.GlobalImage, Tokens.EndOfUtterance, "<|im_start|>" })
            if (Tokenizer.TokenToId(token) is null) throw new InvalidDataException($"{Tokenizer.Source}: the tokenizer has no token {token}, which SmolVLM's prompt needs");
        if (Tokenizer.TokenToId(Tokens.Image) != _imageTokenId)
            throw new InvalidDataException($"config.json's image_token_id {_imageTokenId} is not the tokenizer's id of {Tokens.Image} ({Tokenizer.TokenToId(Tokens.Image)})");
    }
}
