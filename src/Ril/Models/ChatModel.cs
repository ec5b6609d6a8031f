using Ril.Data.Images;
using Ril.Models.Generation;
using Ril.Tensors;
using Ril.Text;

namespace Ril.Models;

/// <summary>
/// A model directory ready to chat: the model, its tokenizer, and the ChatML template with one placeholder per image
/// embedding. Turns a conversation and its images into a <see cref="GenerationRequest"/>, the one way `ril generate`
/// and `ril serve` both do it.
/// </summary>
public sealed class ChatModel
{
    public string Source { get; }
    public VisionLanguageModel Model { get; }
    public VlmConfig Config { get; }
    public BpeTokenizer Tokenizer { get; }
    public ChatTemplate Template { get; }
    /// <summary>The ids that end a reply: the template's turn end and the tokenizer's end of text, where it has them.</summary>
    public IReadOnlyList<int> StopTokens { get; }
    public bool AcceptsImages => Model.Vision is not null;
    /// <summary>Prompt and reply together fit in this many positions.</summary>
    public int ContextLength => Config.Text.MaxPositions;

    public ChatModel(VisionLanguageModel model, VlmConfig config, BpeTokenizer tokenizer, string source)
    {
        Model = model; Config = config; Tokenizer = tokenizer; Source = source;
        Template = new ChatTemplate { ImagePlaceholderCount = Math.Max(1, model.TokensPerImage) };
        var stops = new List<int>();
        if (tokenizer.TokenToId(Template.TurnEnd) is { } end) stops.Add(end);
        if (tokenizer.EosTokenId is { } eos && !stops.Contains(eos)) stops.Add(eos);
        StopTokens = stops;
    }

    /// <summary>A model directory: config.json, weights (model.safetensors or shards) and tokenizer.json.</summary>
    public static ChatModel Load(string dir)
    {
        var (model, config) = ModelDirectory.Load(dir);
        var tokenizerPath = Path.Combine(dir, "tokenizer.json");
        if (!File.Exists(tokenizerPath)) throw new FileNotFoundException($"{dir}: no tokenizer.json", tokenizerPath);
        return new ChatModel(model, config, BpeTokenizer.Load(tokenizerPath), dir);
    }

    /// <summary>
    /// Checks that the tokenizer has the template's turn tokens and, for a model with a vision tower, that its image
    /// placeholder is the token the model puts images on: a server checks once at start, not on its first request.
    /// </summary>
    public void CheckTemplate()
    {
        Template.Encode(Tokenizer, [ChatMessage.User("")]);
        if (AcceptsImages) CheckImageToken();
    }

    void CheckImageToken()
    {
        if (Template.ImagePlaceholderId(Tokenizer) != Config.ImageTokenId)
            throw new InvalidDataException($"{Source}: config.json's image_token_id {Config.ImageTokenId} is not the tokenizer's id of {Template.ImagePlaceholder} ({Template.ImagePlaceholderId(Tokenizer)})");
    }

    /// <summary>A generator that decodes replies without special tokens.</summary>
    public Generator NewGenerator() => new(Model, Decode, Tokenizer.PadTokenId ?? 0);

    /// <summary>Reply text of token ids: special tokens (the turn end, image tokens) left out.</summary>
    public string Decode(int[] ids) => Tokenizer.Decode(ids, skipSpecialTokens: true);

    /// <summary>The conversation in ChatML, ending with an open assistant turn; each image marker becomes the image's placeholders.</summary>
    public int[] EncodeChat(IReadOnlyList<ChatMessage> messages) => Template.Encode(Tokenizer, messages);

    /// <summary>Plain text to continue, after the placeholders of <paramref name="images"/> images.</summary>
    public int[] EncodeRaw(string text, int images = 0) =>
        Tokenizer.Encode(string.Concat(Enumerable.Repeat(Template.ImageText(), images)) + text);

    /// <summary>
    /// A prompt and the images its placeholders stand for, in order. Throws <see cref="ArgumentException"/> when they
    /// do not match (a caller's mistake) and <see cref="InvalidDataException"/> when the model directory is inconsistent.
    /// </summary>
    public GenerationRequest Request(int[] promptIds, IReadOnlyList<Image> images, int numSamples = 1, ulong seed = 0)
    {
        if (images.Count > 0 && !AcceptsImages) throw new ArgumentException($"this model has no vision tower: it cannot take an image ({images.Count} given)");
        if (images.Count > 0) CheckImageToken();
        int placeholders = AcceptsImages ? promptIds.Count(id => id == Config.ImageTokenId) : 0;
        if (placeholders != images.Count * Template.ImagePlaceholderCount)
            throw new ArgumentException($"the prompt has {placeholders} image placeholder tokens, but {images.Count} image(s) of {Template.ImagePlaceholderCount} need {images.Count * Template.ImagePlaceholderCount}");
        return new GenerationRequest(promptIds, numSamples, seed, Pixels(images));
    }

    /// <summary>Images as one [images, 3, S, S] tensor for the vision tower, or null when there are none.</summary>
    public Tensor? Pixels(IReadOnlyList<Image> images)
    {
        if (images.Count == 0) return null;
        var each = images.Select(image => ModelDirectory.PixelsFromImage(image, Config)).ToList();
        var shape = each[0].Shape;
        var data = new float[each.Sum(t => t.Length)];
        for (int i = 0, at = 0; i < each.Count; at += each[i].Length, i++) each[i].Data.CopyTo(data.AsSpan(at));
        return Tensor.FromArray(data, images.Count, shape[1], shape[2], shape[3]);
    }
}
