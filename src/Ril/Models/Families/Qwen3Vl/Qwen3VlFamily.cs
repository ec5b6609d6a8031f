using System.Text.Json.Nodes;
using Ril.Models.Families.Qwen2Vl;
using Ril.Tensors;
using Ril.Text;
using Ril.Text.Jinja;

namespace Ril.Models.Families.Qwen3Vl;

/// <summary>
/// Qwen3-VL dense checkpoints (model_type qwen3_vl; docs/spec/QWEN3_VL.md): weights as released
/// (model.language_model.*, model.visual.* with the DeepStack mergers, lm_head unless tied) or in the flat layout of
/// converted copies (model.layers.*, visual.*), which <see cref="ReleasedName"/> maps; Qwen2-VL's processor with
/// factor 32 and no default system prompt.
/// </summary>
public sealed class Qwen3VlFamily : IModelFamily
{
    /// <summary>Where the decoder's weights live in a released checkpoint.</summary>
    public const string DecoderPrefix = "model.language_model.";

    public string Name => "qwen3_vl";
    public IReadOnlyList<string> ModelTypes { get; } = [Qwen3VlConfig.ModelType];

    public (ICausalLM Model, IProcessor Processor) Load(string dir, JsonObject config, string configPath, BpeTokenizer tokenizer, bool frozen = false)
    {
        var parsed = Qwen3VlConfig.Parse(config, configPath);
        var model = new Qwen3VlModel(parsed, new Rng(0));
        Qwen2VlFamily.LoadRenamed(model.Parameters(), dir, ReleasedName, parsed.Text.TieWordEmbeddings, frozen: frozen);
        var images = Qwen2VlImageProcessor.Load(dir, Qwen2VlImageProcessor.Qwen3VlDefaults);
        return (model, new Qwen2VlProcessor(tokenizer, images, parsed.ImageTokenId, HfChatTemplate.FromModelDirectory(dir), defaultSystemPrompt: null));
    }

    /// <summary>A tensor's released name: model.layers/embed_tokens/norm.X → model.language_model.…, visual.X → model.visual.X.</summary>
    public static string ReleasedName(string name) =>
        name.StartsWith("model.") && !name.StartsWith("model.language_model.") && !name.StartsWith("model.visual.") ? DecoderPrefix + name["model.".Length..]
        : name.StartsWith("visual.") ? "model." + name
        : name;
}
