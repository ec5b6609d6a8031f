using System.Text.RegularExpressions;
using Ril.Tensors;

namespace Ril.Training;

/// <summary>
/// Which parts of a VLM train (RIL Table 5(c)): the vision encoder, the projector, the LM, or LM sub-modules.
/// Parts are matched on Hugging Face parameter names, in every family's released layout (Ril's own
/// `vision_tower.` / `multi_modal_projector.`, Qwen2-VL's `visual.` / `visual.merger.`, Qwen3-VL's and Qwen3.5's
/// `model.visual.` with DeepStack mergers, SmolVLM's `model.vision_model.` / `model.connector.`); everything else is the
/// LM, whose sub-modules are found under it only (a vision block's `mlp.gate_proj` is not the LM's). Frozen parameters
/// stop requiring gradients, so backward does not compute theirs.
/// </summary>
public static class TrainableParts
{
    /// <summary>Name fragments of the projector (checked first: Qwen's merger sits inside `visual.`).</summary>
    static readonly string[] ProjectorNames = ["multi_modal_projector.", "visual.merger.", "visual.deepstack_merger_list.", "connector."];
    static readonly string[] VisionNames = ["vision_tower.", "vision_model.", "visual."];
    static readonly Regex LayerMixer = new(@"(^|\.)layers\.\d+\.(self_attn|linear_attn)\.", RegexOptions.CultureInvariant);
    static readonly Regex LayerMlp = new(@"(^|\.)layers\.\d+\.mlp\.", RegexOptions.CultureInvariant);
    static readonly Regex FinalNorm = new(@"(^|\.)norm\.(weight|bias)$", RegexOptions.CultureInvariant);

    /// <summary>The coarse part of a parameter: "vision", "projector" or "lm".</summary>
    public static string PartOf(string name) =>
        ProjectorNames.Any(name.Contains) ? "projector" : VisionNames.Any(name.Contains) ? "vision" : "lm";

    static bool Lm(string n) => PartOf(n) == "lm";

    /// <summary>Part name → which parameter names belong to it.</summary>
    public static readonly IReadOnlyDictionary<string, Func<string, bool>> Parts = new Dictionary<string, Func<string, bool>>
    {
        ["vision"] = n => PartOf(n) == "vision",
        ["projector"] = n => PartOf(n) == "projector",
        ["lm"] = Lm,
        ["lm.embeddings"] = n => Lm(n) && n.Contains("embed_tokens."),
        ["lm.attention"] = n => Lm(n) && LayerMixer.IsMatch(n),            // attention, or Qwen3.5's Gated DeltaNet mixer
        ["lm.mlp"] = n => Lm(n) && LayerMlp.IsMatch(n),
        ["lm.mlp.gate"] = n => Lm(n) && n.Contains(".mlp.gate_proj."),
        ["lm.mlp.up"] = n => Lm(n) && n.Contains(".mlp.up_proj."),
        ["lm.mlp.down"] = n => Lm(n) && n.Contains(".mlp.down_proj."),
        ["lm.norms"] = n => Lm(n) && (n.Contains("layernorm.") || FinalNorm.IsMatch(n) && !n.Contains(".layers.")),
        ["lm.head"] = n => Lm(n) && n.StartsWith("lm_head."),
    };

    /// <summary>Freezes every parameter outside <paramref name="parts"/>; returns the ones that train.</summary>
    public static List<Tensor> Apply(IEnumerable<Tensor> parameters, IReadOnlyCollection<string> parts)
    {
        foreach (var p in parts)
            if (!Parts.ContainsKey(p)) throw new ArgumentException($"unknown trainable part '{p}' (known: {string.Join(", ", Parts.Keys)})");
        var trainable = new List<Tensor>();
        foreach (var t in parameters.DistinctBy(t => t.Name))
        {
            t.RequiresGrad = parts.Any(p => Parts[p](t.Name!));
            if (t.RequiresGrad) trainable.Add(t);
        }
        if (trainable.Count == 0) throw new ArgumentException($"trainable parts [{string.Join(", ", parts)}] select no parameter of this model");
        return trainable;
    }
}
