using System.Text.Json.Nodes;
using Ril.Tensors;
using Ril.Text;
using Ril.Text.Jinja;

namespace Ril.Models.Families.SmolVlm;

/// <summary>
/// Hugging Face's Idefics3 (SmolVLM) and SmolVLM (SmolVLM2) checkpoints as released: config.json, weights under
/// model.vision_model.*, model.connector.*, model.text_model.* and lm_head (tied or not), preprocessor_config.json and
/// processor_config.json (docs/spec/SMOLVLM.md). Images only; SmolVLM2's video inputs are not read.
/// </summary>
public sealed class SmolVlmFamily : IModelFamily
{
    public string Name => "smolvlm";
    public IReadOnlyList<string> ModelTypes { get; } = ["idefics3", "smolvlm"];

    public (ICausalLM Model, IProcessor Processor) Load(string dir, JsonObject json, string configPath, BpeTokenizer tokenizer, bool frozen = false)
    {
        var config = SmolVlmConfig.Parse(json, configPath);
        var images = SmolVlmImageProcessor.Load(dir);
        if (images.ImageSeqLen != config.ImageSeqLen)
            throw new InvalidDataException($"{Path.Combine(dir, "processor_config.json")}: field 'image_seq_len' ({images.ImageSeqLen}) must be (image_size / patch_size)² / scale_factor² = {config.ImageSeqLen} of {configPath}");
        var model = SmolVlmModel.Create(config, new Rng(0));
        Checkpoint.LoadAll(model.Parameters(), dir, keepBf16: frozen, ignore: name => config.TieWordEmbeddings && name == "lm_head.weight");   // tied: a stored head is ignored
        return (model, new SmolVlmProcessor(tokenizer, images, config.ImageTokenId, Tokens(dir), HfChatTemplate.FromModelDirectory(dir)));
    }

    /// <summary>The prompt's special strings as SmolVLM2's tokenizer_config.json names them, else the literals.</summary>
    static SmolVlmTokens Tokens(string dir)
    {
        var path = Path.Combine(dir, "tokenizer_config.json");
        var tokens = new SmolVlmTokens();
        if (!File.Exists(path) || JsonNode.Parse(File.ReadAllText(path)) is not JsonObject json) return tokens;
        string Named(string field, string fallback) => json[field] is JsonValue v && v.TryGetValue<string>(out var s) ? s : fallback;
        return new SmolVlmTokens(Named("image_token", tokens.Image), Named("fake_image_token", tokens.FakeAroundImage),
            Named("global_image_token", tokens.GlobalImage), Named("end_of_utterance_token", tokens.EndOfUtterance));
    }
}
