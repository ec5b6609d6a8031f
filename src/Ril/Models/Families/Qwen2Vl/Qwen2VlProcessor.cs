using Ril.Data.Images;
using Ril.Tensors;
using Ril.Text;
using Ril.Text.Jinja;

namespace Ril.Models.Families.Qwen2Vl;

/// <summary>
/// Qwen2-VL's processor, also Qwen3-VL's (docs/spec/QWEN2_VL.md §5): the chat is rendered as <see cref="ChatMlProcessor"/> renders it,
/// through the checkpoint's own template when the folder has one, else ChatML with Qwen's default system prompt "You
/// are a helpful assistant." — each image written <c>&lt;|vision_start|&gt;&lt;|image_pad|&gt;&lt;|vision_end|&gt;</c>;
/// <see cref="ExpandImages"/> then gives image k its t·h·w/m² placeholders, which depend on the image's size.
/// </summary>
public sealed class Qwen2VlProcessor : IProcessor
{
    public const string DefaultSystemPrompt = "You are a helpful assistant.";
    readonly int _imagePad, _visionStart;
    readonly ChatMlProcessor _chat;

    public BpeTokenizer Tokenizer { get; }
    public Qwen2VlImageProcessor Images { get; }
    public ChatTemplate Template => _chat.Template;
    public IReadOnlyList<int> StopTokens => _chat.StopTokens;
    public int PadId { get; }
    /// <summary>The model's placeholder id (config.json's image_token_id), which <see cref="Check"/> holds the tokenizer to.</summary>
    public int ModelImageTokenId { get; }

    /// <param name="defaultSystemPrompt">the system turn ChatML writes when the chat has none and the checkpoint no template
    /// (Qwen2-VL's "You are a helpful assistant."; Qwen3-VL has none: null)</param>
    public Qwen2VlProcessor(BpeTokenizer tokenizer, Qwen2VlImageProcessor images, int modelImageTokenId, HfChatTemplate? checkpointTemplate = null,
                            string? defaultSystemPrompt = DefaultSystemPrompt)
    {
        (Tokenizer, Images, ModelImageTokenId) = (tokenizer, images, modelImageTokenId);
        _chat = new ChatMlProcessor(tokenizer, template: new ChatTemplate { DefaultSystemPrompt = defaultSystemPrompt }, checkpointTemplate: checkpointTemplate);
        _imagePad = tokenizer.TokenToId(Template.ImagePlaceholder) ?? -1;
        _visionStart = tokenizer.TokenToId(Template.ImageStart) ?? -1;
        PadId = tokenizer.PadTokenId ?? tokenizer.TokenToId("<|endoftext|>") ?? StopTokens.FirstOrDefault();
    }

    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true) => _chat.Render(messages, addGenerationPrompt);

    /// <summary>The chat's ids with one placeholder per image; <see cref="ExpandImages"/> sizes them to the images.</summary>
    public int[] EncodeChat(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true) => _chat.EncodeChat(messages, addGenerationPrompt);

    public int[] EncodeRaw(string text, int images = 0) => _chat.EncodeRaw(text, images);

    /// <summary>Placeholders of one image: merged tokens of its resized grid (docs/spec/QWEN2_VL.md §5).</summary>
    public int PlaceholdersFor(Image image)
    {
        var (h, w) = Images.SmartResize(image.Height, image.Width);
        return h / Images.Factor * (w / Images.Factor);
    }

    public int PlaceholdersFor(IReadOnlyList<Image> images) => images.Sum(PlaceholdersFor);

    /// <summary>
    /// Each image's single placeholder (right after <c>&lt;|vision_start|&gt;</c>) becomes as many as its pixels fill;
    /// a prompt already expanded, or one whose placeholders do not match the images, comes back as it is.
    /// </summary>
    public int[] ExpandImages(int[] promptIds, IReadOnlyList<Image> images)
    {
        int singles = 0;
        for (int i = 1; i < promptIds.Length; i++)
            if (promptIds[i] == _imagePad && promptIds[i - 1] == _visionStart && (i + 1 == promptIds.Length || promptIds[i + 1] != _imagePad)) singles++;
        if (images.Count == 0 || singles != images.Count || promptIds.Count(id => id == _imagePad) != images.Count) return promptIds;
        var result = new List<int>(promptIds.Length + PlaceholdersFor(images));
        int k = 0;
        foreach (var id in promptIds)
        {
            if (id == _imagePad) result.AddRange(Enumerable.Repeat(_imagePad, PlaceholdersFor(images[k++])));
            else result.Add(id);
        }
        return result.ToArray();
    }

    /// <summary>Patch rows of all images [Σ t·h·w, C·T·P·P] and their grids [t, h, w], in order.</summary>
    public PixelInputs? Pixels(IReadOnlyList<Image> images)
    {
        if (images.Count == 0) return null;
        var each = images.Select(Images.Preprocess).ToList();
        int columns = each[0].Values.Length / (each[0].Grid[0] * each[0].Grid[1] * each[0].Grid[2]);
        var values = each.SelectMany(e => e.Values).ToArray();
        return new PixelInputs(Tensor.FromArray(values, values.Length / columns, columns), each.Select(e => e.Grid).ToList());
    }

    public string Decode(ReadOnlySpan<int> ids) => Tokenizer.DecodeGenerated(ids);

    public void Check()
    {
        _chat.Check();
        if (_imagePad != ModelImageTokenId)
            throw new InvalidDataException($"config.json's image_token_id {ModelImageTokenId} is not the tokenizer's id of {Template.ImagePlaceholder} ({_imagePad})");
        if (_visionStart < 0) throw new InvalidDataException($"the tokenizer has no {Template.ImageStart} token");
    }
}
