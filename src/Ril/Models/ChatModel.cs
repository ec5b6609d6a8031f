using Ril.Data;
using Ril.Data.Images;
using Ril.Models.Generation;
using Ril.Tensors;
using Ril.Text;

namespace Ril.Models;

/// <summary>
/// A model with its processor: what every verb, trainer and the server hold. Turns a question or a conversation and its
/// images into prompt ids and pixels and replies back into text, the one way `ril generate`, `ril serve`, evaluation,
/// SFT and RL all do it, whatever the family.
/// </summary>
public sealed class ChatModel(ICausalLM model, IProcessor processor, string source = "", GenerationDefaults? defaults = null)
{
    /// <summary>Where it was loaded from (empty for a model built in memory).</summary>
    public string Source { get; } = source;
    public ICausalLM Model { get; } = model;
    public IProcessor Processor { get; } = processor;
    /// <summary>The checkpoint's generation_config.json defaults (<see cref="GenerationDefaults.None"/> when it has none).</summary>
    public GenerationDefaults Defaults { get; } = defaults ?? GenerationDefaults.None;

    public BpeTokenizer Tokenizer => Processor.Tokenizer;
    public IReadOnlyList<int> StopTokens => Processor.StopTokens;
    public int PadId => Processor.PadId;
    public bool AcceptsImages => Model.AcceptsImages;
    /// <summary>Prompt and reply together fit in this many positions.</summary>
    public int ContextLength => Model.ContextLength;

    /// <summary>
    /// A model directory or a Hub snapshot: config.json (its model_type picks the family), weights (model.safetensors
    /// or shards), tokenizer.json, and where present generation_config.json. <paramref name="frozen"/>: the run never
    /// trains these weights (generate, serve), so a family may keep the checkpoint's BF16 matrices in bf16 (exact, half
    /// the memory of float32, and read in place by the products).
    /// </summary>
    public static ChatModel Load(string dir, bool frozen = false)
    {
        var config = ModelFamilies.ReadConfig(dir, out var configPath);
        var family = ModelFamilies.Of(config, configPath);
        var tokenizerPath = Path.Combine(dir, "tokenizer.json");
        if (!File.Exists(tokenizerPath)) throw new FileNotFoundException($"{dir}: no tokenizer.json", tokenizerPath);
        var (model, processor) = family.Load(dir, config, configPath, BpeTokenizer.Load(tokenizerPath), frozen);
        return new ChatModel(model, processor, dir, GenerationDefaults.Load(dir));
    }

    /// <summary>The same processor over another model of the family (e.g. <see cref="ICausalLM.BaseView"/>, the KL reference).</summary>
    public ChatModel With(ICausalLM other) => new(other, Processor, Source, Defaults);

    /// <summary>Writes config.json and model.safetensors into <paramref name="dir"/>, each atomically.</summary>
    public void SaveWeights(string dir) => Checkpoint.Save(dir, Model.ConfigJson(), Model.Parameters());

    /// <summary>A model directory that <see cref="Load"/> reads back: the weights, and the processor's files from <see cref="Source"/>.</summary>
    public void Save(string dir)
    {
        SaveWeights(dir);
        if (Directory.Exists(Source)) CopyProcessorFiles(Source, dir);
    }

    /// <summary>What a processor reads besides the weights: the tokenizer, its config, the chat template, generation and image settings.</summary>
    public static readonly IReadOnlyList<string> ProcessorFiles =
    [
        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja", "chat_template.json",
        "generation_config.json", "preprocessor_config.json", "processor_config.json",
    ];

    /// <summary>Copies <see cref="ProcessorFiles"/> that <paramref name="from"/> has into <paramref name="to"/>.</summary>
    public static void CopyProcessorFiles(string from, string to)
    {
        foreach (var name in ProcessorFiles)
            if (File.Exists(Path.Combine(from, name))) File.Copy(Path.Combine(from, name), Path.Combine(to, name), overwrite: true);
    }

    public IEnumerable<Tensor> Parameters() => Model.Parameters();

    /// <summary>Checks that the tokenizer has the template's turn tokens and the model's image placeholder: a server checks once at start.</summary>
    public void CheckTemplate() => Processor.Check();

    /// <summary>A generator that decodes replies without special tokens.</summary>
    public Generator NewGenerator() => new(Model, ids => Processor.Decode(ids), PadId);

    public string Decode(ReadOnlySpan<int> ids) => Processor.Decode(ids);

    /// <summary>The prompt of a question: the user turn (image first, when there is one), then an open assistant turn.</summary>
    public int[] Prompt(string question, bool hasImage) => Processor.EncodeChat([ChatMessage.User(question, hasImage ? 1 : 0)]);

    /// <summary>A question's prompt, its image's placeholders sized to the image, and the image's pixels.</summary>
    public (int[] Prompt, PixelInputs? Pixels) Prompt(string question, Image? image)
    {
        Image[] images = image is null ? [] : [image];
        return Prompt(ChatMessage.User(question, images.Length), images);
    }

    /// <summary>A user turn's prompt (its image markers standing for <paramref name="images"/> in order), each image's placeholders sized to it, and the pixels.</summary>
    public (int[] Prompt, PixelInputs? Pixels) Prompt(ChatMessage user, IReadOnlyList<Image> images) =>
        (Processor.ExpandImages(EncodeChat([user]), images), Pixels(images));

    /// <summary>
    /// A dataset row's prompt and pixels, the one way evaluation, RL and SFT render a question: its user turn
    /// (<see cref="DatasetRow.UserTurn"/>: the question's &lt;image&gt; markers, or the images before the text) with every
    /// image of the row when the model takes images, none otherwise.
    /// </summary>
    public (int[] Prompt, PixelInputs? Pixels) Prompt(DatasetRow row)
    {
        var images = AcceptsImages ? row.LoadImages() : [];
        return Prompt(row.UserTurn(images.Count), images);
    }

    /// <summary>A row's prompt ids before each image's placeholders are sized (one per image where a processor sizes them): for lengths.</summary>
    public int[] PromptIds(DatasetRow row) => EncodeChat([row.UserTurn(AcceptsImages ? row.Images.Count : 0)]);

    /// <summary>The conversation in the model's chat format, ending with an open assistant turn.</summary>
    public int[] EncodeChat(IReadOnlyList<ChatMessage> messages) => Processor.EncodeChat(messages);

    /// <summary>Plain text to continue, after the image text of <paramref name="images"/> images.</summary>
    public int[] EncodeRaw(string text, int images = 0) => Processor.EncodeRaw(text, images);

    /// <summary>Pixel inputs of images for the model, or null when there are none.</summary>
    public PixelInputs? Pixels(IReadOnlyList<Image> images) => Processor.Pixels(images);

    /// <summary>
    /// A prompt and the images its placeholders stand for, in order. Throws <see cref="ArgumentException"/> when they
    /// do not match (a caller's mistake) and <see cref="InvalidDataException"/> when the model directory is inconsistent.
    /// </summary>
    public GenerationRequest Request(int[] promptIds, IReadOnlyList<Image> images, int numSamples = 1, ulong seed = 0)
    {
        if (images.Count > 0 && !AcceptsImages) throw new ArgumentException($"this model has no vision tower: it cannot take an image ({images.Count} given)");
        if (images.Count > 0) CheckTemplate();
        promptIds = Processor.ExpandImages(promptIds, images);
        int placeholders = AcceptsImages ? promptIds.Count(id => id == Model.ImageTokenId) : 0;
        int needed = Processor.PlaceholdersFor(images);
        if (placeholders != needed)
            throw new ArgumentException($"the prompt has {placeholders} image placeholder tokens, but its {images.Count} image(s) need {needed}");
        return new GenerationRequest(promptIds, numSamples, seed, Pixels(images));
    }
}
