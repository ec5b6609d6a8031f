using System.Text.Json.Nodes;
using Ril.Models;
using Ril.Tensors;
using Ril.Text;
using Ril.Text.Jinja;

namespace Ril.Models.Families.Llama;

/// <summary>
/// Plain Hugging Face text decoders of the Llama layout (Llama, Qwen2, Qwen3 with its per-head q/k norms, Mistral without sliding windows): config.json of
/// the LM itself, weights under model.* and lm_head (tied or not), ChatML prompts.
/// </summary>
public sealed class LlamaFamily : IModelFamily
{
    public string Name => "llama";
    public IReadOnlyList<string> ModelTypes { get; } = ["llama", "qwen2", "qwen3", "mistral"];

    public (ICausalLM Model, IProcessor Processor) Load(string dir, JsonObject config, string configPath, BpeTokenizer tokenizer, bool frozen = false)
    {
        var decoder = DecoderConfig.Parse(config.ToJsonString(), configPath);
        var model = new DecoderLM(decoder, rng: null);   // every weight comes from the checkpoint
        // A text decoder reads its matrices only through Embedding and Linear, which take bf16 storage.
        Checkpoint.LoadAll(model.Parameters(), dir, keepBf16: frozen);
        return (model, new ChatMlProcessor(tokenizer, checkpointTemplate: HfChatTemplate.FromModelDirectory(dir)));
    }
}
