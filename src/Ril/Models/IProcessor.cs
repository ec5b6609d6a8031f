using Ril.Data.Images;
using Ril.Tensors;
using Ril.Text;

namespace Ril.Models;

/// <summary>
/// A family's processor: conversations and images into what its model reads (token ids with the image placeholders,
/// pixel inputs), and token ids back into text. Messages write each image as <see cref="ChatTemplate.DefaultImageMarker"/>;
/// the processor expands it into the family's image text with as many placeholders as the model puts features on.
/// </summary>
public interface IProcessor
{
    BpeTokenizer Tokenizer { get; }
    /// <summary>Ids that end a reply: the end of the assistant turn and the tokenizer's end of text.</summary>
    IReadOnlyList<int> StopTokens { get; }
    /// <summary>The id that fills padding positions (never attended to).</summary>
    int PadId { get; }

    /// <summary>The conversation as the model's chat text, with an open assistant turn when <paramref name="addGenerationPrompt"/>.</summary>
    string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true);

    /// <summary>Token ids of <see cref="Render"/>'s text.</summary>
    int[] EncodeChat(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt = true);

    /// <summary>Plain text to continue, after the image text of <paramref name="images"/> images.</summary>
    int[] EncodeRaw(string text, int images = 0);

    /// <summary>Pixel inputs of images, in order, for the model's vision tower; null when there are none.</summary>
    PixelInputs? Pixels(IReadOnlyList<Image> images);

    /// <summary>Placeholder tokens in a prompt for these images (what <see cref="Pixels"/> of them fills).</summary>
    int PlaceholdersFor(IReadOnlyList<Image> images);

    /// <summary>
    /// The prompt with each image's placeholders as many as <see cref="Pixels"/> of that image fills: for a processor
    /// whose count depends on the image's size (Qwen2-VL), whose <see cref="EncodeChat"/> writes one per image. Others
    /// return the prompt as it is.
    /// </summary>
    int[] ExpandImages(int[] promptIds, IReadOnlyList<Image> images) => promptIds;

    /// <summary>Reply text of token ids, special tokens left out.</summary>
    string Decode(ReadOnlySpan<int> ids);

    /// <summary>Checks once that the tokenizer has the template's control tokens and the model's image placeholder.</summary>
    void Check();
}
