using System.Text;

namespace Ril.Text;

/// <summary>One turn of a conversation. Each <see cref="ChatTemplate.ImageMarker"/> in the content stands for one image.</summary>
public sealed record ChatMessage(string Role, string Content)
{
    public static ChatMessage System(string content) => new("system", content);
    public static ChatMessage Assistant(string content) => new("assistant", content);

    /// <summary>
    /// A user turn with <paramref name="images"/> images: markers the text already has (EasyR1's and geometry3k's
    /// "&lt;image&gt;Find x") place images where they stand; those it lacks go before the text, as Qwen-VL orders them.
    /// </summary>
    public static ChatMessage User(string content, int images = 0)
    {
        int present = images == 0 ? 0 : content.Split(ChatTemplate.DefaultImageMarker).Length - 1;
        return new("user", string.Concat(Enumerable.Repeat(ChatTemplate.DefaultImageMarker, Math.Max(0, images - present))) + content);
    }
}

/// <summary>
/// ChatML, the conversation format of Qwen and of the models Ril trains:
/// <code>
/// &lt;|im_start|&gt;system
/// You are a helpful assistant.&lt;|im_end|&gt;
/// &lt;|im_start|&gt;user
/// &lt;|vision_start|&gt;&lt;|image_pad|&gt;…&lt;|vision_end|&gt;How many circles?&lt;|im_end|&gt;
/// &lt;|im_start|&gt;assistant
/// </code>
/// Images are written as <see cref="ImageMarker"/> ("&lt;image&gt;", as in MAYE's questions) in message
/// text and expanded to <see cref="ImageStart"/>, <see cref="ImagePlaceholderCount"/> ×
/// <see cref="ImagePlaceholder"/>, <see cref="ImageEnd"/>: the VLM puts one image embedding on each
/// placeholder token (or set the count to 1 and let the model expand the single token).
/// </summary>
public sealed record ChatTemplate
{
    public const string DefaultImageMarker = "<image>";

    public string TurnStart { get; init; } = "<|im_start|>";
    public string TurnEnd { get; init; } = "<|im_end|>";
    public string ImageMarker { get; init; } = DefaultImageMarker;
    public string ImageStart { get; init; } = "<|vision_start|>";
    public string ImagePlaceholder { get; init; } = "<|image_pad|>";
    public string ImageEnd { get; init; } = "<|vision_end|>";
    public int ImagePlaceholderCount { get; init; } = 1;
    /// <summary>Used when the conversation has no system message (Qwen2.5 uses "You are a helpful assistant."); null: none.</summary>
    public string? DefaultSystemPrompt { get; init; }

    /// <summary>The text of one image: start, placeholders, end.</summary>
    public string ImageText()
    {
        if (ImagePlaceholderCount < 1) throw new ArgumentException($"image placeholder count must be at least 1, got {ImagePlaceholderCount}");
        var sb = new StringBuilder(ImageStart);
        for (int i = 0; i < ImagePlaceholderCount; i++) sb.Append(ImagePlaceholder);
        return sb.Append(ImageEnd).ToString();
    }

    /// <summary>
    /// The conversation as ChatML text; with <paramref name="addGenerationPrompt"/>, ending with an open
    /// assistant turn for the model to complete.
    /// </summary>
    public string Format(IEnumerable<ChatMessage> messages, bool addGenerationPrompt = true)
    {
        var sb = new StringBuilder();
        var list = messages.ToList();
        if (DefaultSystemPrompt != null && (list.Count == 0 || list[0].Role != "system"))
            AppendTurn(sb, "system", DefaultSystemPrompt);
        foreach (var message in list)
        {
            if (string.IsNullOrWhiteSpace(message.Role) || message.Role.Contains('\n'))
                throw new ArgumentException($"chat message role must be a single word, got '{message.Role}'");
            AppendTurn(sb, message.Role, message.Content);
        }
        if (addGenerationPrompt) sb.Append(TurnStart).Append("assistant\n");
        return sb.ToString();
    }

    void AppendTurn(StringBuilder sb, string role, string content) =>
        sb.Append(TurnStart).Append(role).Append('\n').Append(ExpandImages(content)).Append(TurnEnd).Append('\n');

    string ExpandImages(string content) =>
        content.Contains(ImageMarker, StringComparison.Ordinal) ? content.Replace(ImageMarker, ImageText(), StringComparison.Ordinal) : content;

    /// <summary>Token ids of <see cref="Format"/>'s text; checks the tokenizer knows the template's control tokens.</summary>
    public int[] Encode(BpeTokenizer tokenizer, IEnumerable<ChatMessage> messages, bool addGenerationPrompt = true)
    {
        tokenizer.SpecialTokenId(TurnStart);
        tokenizer.SpecialTokenId(TurnEnd);
        return tokenizer.Encode(Format(messages, addGenerationPrompt));
    }

    /// <summary>The ids the VLM replaces with image embeddings; throws if the tokenizer lacks the token.</summary>
    public int ImagePlaceholderId(BpeTokenizer tokenizer) => tokenizer.SpecialTokenId(ImagePlaceholder);

    /// <summary>The id that ends an assistant turn (generation stops there).</summary>
    public int TurnEndId(BpeTokenizer tokenizer) => tokenizer.SpecialTokenId(TurnEnd);

    /// <summary>Number of images written in a text.</summary>
    public int CountImages(string content)
    {
        int count = 0;
        for (int at = content.IndexOf(ImageMarker, StringComparison.Ordinal); at >= 0; at = content.IndexOf(ImageMarker, at + ImageMarker.Length, StringComparison.Ordinal))
            count++;
        return count;
    }
}
