using Ril.Models;
using Ril.Tensors;
using Ril.Text;

namespace Ril.Training;

/// <summary>A model with the tokenizer and chat template that turn questions into its prompts.</summary>
public sealed class Policy(VisionLanguageModel model, BpeTokenizer tokenizer, ChatTemplate template)
{
    public VisionLanguageModel Model { get; } = model;
    public BpeTokenizer Tokenizer { get; } = tokenizer;
    public ChatTemplate Template { get; } = template with { ImagePlaceholderCount = Math.Max(1, model.TokensPerImage) };

    /// <summary>Tokens that end a response: the end of the assistant turn and the tokenizer's EOS.</summary>
    public int[] StopTokens => new int?[] { Tokenizer.TokenToId(Template.TurnEnd), Tokenizer.EosTokenId }
        .Where(t => t is not null).Select(t => t!.Value).Distinct().ToArray();

    public int PadId => Tokenizer.PadTokenId ?? StopTokens.FirstOrDefault();

    public string Decode(ReadOnlySpan<int> ids) => Tokenizer.Decode(ids, skipSpecialTokens: true);

    /// <summary>The prompt of a question: the user turn (image first, when there is one), then an open assistant turn.</summary>
    public int[] Prompt(string question, bool hasImage) =>
        Template.Encode(Tokenizer, [ChatMessage.User((hasImage ? ChatTemplate.DefaultImageMarker : "") + question)]);

    public IEnumerable<Tensor> Parameters() => Model.Parameters();
}
