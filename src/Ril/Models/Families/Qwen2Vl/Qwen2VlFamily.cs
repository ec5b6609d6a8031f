using System.Text.Json.Nodes;
using Ril.Tensors;
using Ril.Tensors.IO;
using Ril.Text;
using Ril.Text.Jinja;

namespace Ril.Models.Families.Qwen2Vl;

/// <summary>
/// Qwen2-VL and Qwen2.5-VL checkpoints (model_type qwen2_vl, qwen2_5_vl) in either released name layout: the Hub's
/// (model.layers.*, visual.*, lm_head) or transformers ≥ 4.52's (model.language_model.*, model.visual.*), which
/// <see cref="HubName"/> maps back (docs/spec/QWEN2_VL.md §3.2).
/// </summary>
public sealed class Qwen2VlFamily : IModelFamily
{
    public string Name => "qwen2_vl";
    public IReadOnlyList<string> ModelTypes { get; } = [Qwen2VlConfig.Qwen2Vl, Qwen2VlConfig.Qwen25Vl];

    public (ICausalLM Model, IProcessor Processor) Load(string dir, JsonObject config, string configPath, BpeTokenizer tokenizer, bool frozen = false)
    {
        var parsed = Qwen2VlConfig.Parse(config, configPath);
        var model = new Qwen2VlModel(parsed, new Rng(0));
        LoadRenamed(model.Parameters(), dir, HubName, parsed.Text.TieWordEmbeddings, frozen: frozen);
        return (model, new Qwen2VlProcessor(tokenizer, Qwen2VlImageProcessor.Load(dir), parsed.ImageTokenId, HfChatTemplate.FromModelDirectory(dir)));
    }

    /// <summary>
    /// Loads DIR's tensors into <paramref name="parameters"/> under the names <paramref name="rename"/> gives them; every
    /// tensor must find its parameter (a tied checkpoint's copy of the head, rotary buffers and what <paramref name="skip"/>
    /// names aside).
    /// </summary>
    internal static void LoadRenamed(IEnumerable<Tensor> parameters, string dir, Func<string, string> rename, bool tied, Func<string, bool>? skip = null,
                                     bool frozen = false) =>
        Checkpoint.LoadAll(parameters, dir, keepBf16: frozen, rename, name => skip?.Invoke(name) == true || tied && name == "lm_head.weight");

    /// <summary>A tensor's Hub name: model.language_model.X → model.X, model.visual.X → visual.X; others unchanged.</summary>
    public static string HubName(string name) =>
        name.StartsWith("model.language_model.") ? "model." + name["model.language_model.".Length..]
        : name.StartsWith("model.visual.") ? name["model.".Length..]
        : name;
}
