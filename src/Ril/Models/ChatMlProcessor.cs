using Ril.Data.Images;
using Ril.Tensors;
using Ril.Text;
using Ril.Text.Jinja;

namespace Ril.Models;

/// <summary>
/// The processor of models with a fixed number of placeholders per image (Ril's own layout, and the Llama/Qwen2 text
/// models): the checkpoint's own chat template renders the conversation when it ships one (as transformers'
/// apply_chat_template), else <see cref="ChatTemplate"/>'s ChatML; each image is <c>&lt;|vision_start|&gt;</c> +
/// N × <c>&lt;|image_pad|&gt;</c> + <c>&lt;|vision_end|&gt;</c>, and the family turns an image into pixels.
/// </summary>
public sealed class ChatMlProcessor : IProcessor
{
    readonly Func<Image, Tensor>? _pixelsOf;
    readonly int _imageTokenId;

    /// <summary>The checkpoint's Jinja chat template; null: ChatML.</summary>
    public HfChatTemplate? CheckpointTemplate { get; }

    public BpeTokenizer Tokenizer { get; }
    public ChatTemplate Template { get; }
    public IReadOnlyList<int> StopTokens { get; }
    public int PadId { get; }

    /// <param name="tokensPerImage">image features per image (0: the model takes no images)</param>
    /// <param name="pixelsOf">one image's pixels [1, …] for the vision tower; null for a text model</param>
    public ChatMlProcessor(BpeTokenizer tokenizer, int tokensPerImage = 0, int imageTokenId = -1, Func<Image, Tensor>? pixelsOf = null,
                           ChatTemplate? template = null, HfChatTemplate? checkpointTemplate = null)
    {
        (Tokenizer, _pixelsOf, _imageTokenId, CheckpointTemplate) = (tokenizer, pixelsOf, imageTokenId, checkpointTemplate);
        Template = (template ?? new ChatTemplate()) with { ImagePlaceholderCount = Math.Max(1, tokensPerImage) };
        StopTokens = new int?[] { tokenizer.TokenToId(Template.TurnEnd), tokenizer.EosTokenId }
            .Where(t => t is not null).Select(t => t!.Value).Distinct().ToArray();
        PadId = tokenizer.PadTokenId ?? StopTokens.FirstOrDefault();
    }

    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true)
    {
        if (CheckpointTemplate is null) return Template.Format(messages, addGenerationPrompt);
        // The template writes one placeholder per image part; the model puts N features there.
        var text = CheckpointTemplate.Apply(HfMessages.Of(messages, Template.ImageMarker), addGenerationPrompt);
        return Template.ImagePlaceholderCount == 1 ? text : text.Replace(Template.ImagePlaceholder, string.Concat(Enumerable.Repeat(Template.ImagePlaceholder, Template.ImagePlaceholderCount)), StringComparison.Ordinal);
    }

    public int[] EncodeChat(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true)
    {
        if (CheckpointTemplate is null) { Tokenizer.SpecialTokenId(Template.TurnStart); Tokenizer.SpecialTokenId(Template.TurnEnd); }
        return ChatEncoding.Encode(Tokenizer, Render(messages, addGenerationPrompt), messages, Template.ImageMarker);
    }


    public int[] EncodeRaw(string text, int images = 0) => Tokenizer.Encode(string.Concat(Enumerable.Repeat(Template.ImageText(), images)) + text);

    public PixelInputs? Pixels(IReadOnlyList<Image> images)
    {
        if (images.Count == 0) return null;
        if (_pixelsOf is null) throw new ArgumentException($"this model has no vision tower: it cannot take an image ({images.Count} given)");
        var each = images.Select(_pixelsOf).ToList();
        return each.Count == 1 ? each[0] : Tensor.FromArray(each.SelectMany(t => t.ToArray()).ToArray(), [each.Count, .. each[0].Shape[1..]]);
    }

    public int PlaceholdersFor(IReadOnlyList<Image> images) => images.Count * Template.ImagePlaceholderCount;

    public string Decode(ReadOnlySpan<int> ids) => Tokenizer.DecodeGenerated(ids);

    public void Check()
    {
        if (CheckpointTemplate is null) Template.Encode(Tokenizer, [ChatMessage.User("")]);
        else Render([ChatMessage.User("")]);
        if (_pixelsOf is not null && Template.ImagePlaceholderId(Tokenizer) != _imageTokenId)
            throw new InvalidDataException($"config.json's image_token_id {_imageTokenId} is not the tokenizer's id of {Template.ImagePlaceholder} ({Template.ImagePlaceholderId(Tokenizer)})");
    }
}
