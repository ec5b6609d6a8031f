using System.Text.Json.Nodes;
using Ril.Models.Families.Llama;
using Ril.Models.Families.Qwen2Vl;
using Ril.Models.Families.Qwen3Vl;
using Ril.Tensors;
using Ril.Text;
using Ril.Text.Jinja;

namespace Ril.Models.Families.Qwen35;

/// <summary>
/// Qwen3.5 dense checkpoints (docs/spec/QWEN3_5.md): model_type qwen3_5 as released (model.language_model.*,
/// model.visual.*, tied head; the flat layout of converted copies is mapped as Qwen3-VL's), with Qwen3-VL's processor
/// (factor 32) and no default system prompt; or a text-only qwen3_5_text save (model.*, ChatML or its own template). The
/// multi-token-prediction head (mtp.*, used in pre-training only, as transformers ignores it) is skipped on load.
/// </summary>
public sealed class Qwen35Family : IModelFamily
{
    public string Name => "qwen3_5";
    public IReadOnlyList<string> ModelTypes { get; } = [Qwen35Config.ModelType, DecoderConfig.Qwen35Text];

    public (ICausalLM Model, IProcessor Processor) Load(string dir, JsonObject config, string configPath, BpeTokenizer tokenizer, bool frozen = false)
    {
        var template = HfChatTemplate.FromModelDirectory(dir);
        if (config["text_config"] is null)
        {
            var (decoder, _) = Qwen35Config.ParseText(config, configPath);
            var text = new DecoderLM(decoder, rng: null);
            // Qwen3_5ForCausalLM reads a full checkpoint's text part: the vision tower is skipped too.
            Qwen2VlFamily.LoadRenamed(text.Parameters(), dir, Qwen2VlFamily.HubName, decoder.TieWordEmbeddings, name => Skipped(name) || name.StartsWith("model.visual."), frozen);
            return (text, new ChatMlProcessor(tokenizer, checkpointTemplate: template));
        }
        var parsed = Qwen35Config.Parse(config, configPath);
        var model = new Qwen35Model(parsed, new Rng(0));
        Qwen2VlFamily.LoadRenamed(model.Parameters(), dir, Qwen3VlFamily.ReleasedName, parsed.Text.TieWordEmbeddings, Skipped, frozen);
        var images = Qwen2VlImageProcessor.Load(dir, Qwen2VlImageProcessor.Qwen3VlDefaults);
        return (model, new Qwen2VlProcessor(tokenizer, images, parsed.ImageTokenId, template, defaultSystemPrompt: null));
    }

    /// <summary>The multi-token-prediction head (mtp.*): in the released files, read by no part of the model (docs/spec/QWEN3_5.md "Weights").</summary>
    static bool Skipped(string name) => name.StartsWith("mtp.");
}
