using Ril.Data.Images;
using Ril.Tensors;
using Ril.Text;

namespace Ril.Models;

/// <summary>
/// The processor of models that chat in ChatML with a fixed number of placeholders per image (Ril's own layout, and the
/// Llama/Qwen2 text models): <see cref="ChatTemplate"/> renders the conversation, each image is
/// <c>&lt;|vision_start|&gt;</c> + N × <c>&lt;|image_pad|&gt;</c> + <c>&lt;|vision_end|&gt;</c>, and the family turns an
/// image into pixels.
/// </summary>
public sealed class ChatMlProcessor : IProcessor
{
    readonly Func<Image, Tensor>? _pixelsOf;
    readonly int _imageTokenId;

    public BpeTokenizer Tokenizer { get; }
    public ChatTemplate Template { get; }
    public IReadOnlyList<int> StopTokens { get; }
    public int PadId { get; }

    /// <param name="tokensPerImage">image features per image (0: the model takes no images)</param>
    /// <param name="pixelsOf">one image's pixels [1, …] for the vision tower; null for a text model</param>
    public ChatMlProcessor(BpeTokenizer tokenizer, int tokensPerImage = 0, int imageTokenId = -1, Func<Image, Tensor>? pixelsOf = null,
                           ChatTemplate? template = null)
    {
        (Tokenizer, _pixelsOf, _imageTokenId) = (tokenizer, pixelsOf, imageTokenId);
        Template = (template ?? new ChatTemplate()) with { ImagePlaceholderCount = Math.Max(1, tokensPerImage) };
        StopTokens = new int?[] { tokenizer.TokenToId(Template.TurnEnd), tokenizer.EosTokenId }
            .Where(t => t is not null).Select(t => t!.Value).Distinct().ToArray();
        PadId = tokenizer.PadTokenId ?? StopTokens.FirstOrDefault();
    }

    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true) => Template.Format(messages, addGenerationPrompt);

    public int[] EncodeChat(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true) => Template.Encode(Tokenizer, messages, addGenerationPrompt);

    public int[] EncodeRaw(string text, int images = 0) => Tokenizer.Encode(string.Concat(Enumerable.Repeat(Template.ImageText(), images)) + text);

    public PixelInputs? Pixels(IReadOnlyList<Image> images)
    {
        if (images.Count == 0) return null;
        if (_pixelsOf is null) throw new ArgumentException($"this model has no vision tower: it cannot take an image ({images.Count} given)");
        var each = images.Select(_pixelsOf).ToList();
        return each.Count == 1 ? each[0] : Tensor.FromArray(each.SelectMany(t => t.ToArray()).ToArray(), [each.Count, .. each[0].Shape[1..]]);
    }

    public int PlaceholdersFor(IReadOnlyList<Image> images) => images.Count * Template.ImagePlaceholderCount;

    public string Decode(ReadOnlySpan<int> ids) => Tokenizer.Decode(ids, skipSpecialTokens: true);

    public void Check()
    {
        Template.Encode(Tokenizer, [ChatMessage.User("")]);
        if (_pixelsOf is not null && Template.ImagePlaceholderId(Tokenizer) != _imageTokenId)
            throw new InvalidDataException($"config.json's image_token_id {_imageTokenId} is not the tokenizer's id of {Template.ImagePlaceholder} ({Template.ImagePlaceholderId(Tokenizer)})");
    }
}
