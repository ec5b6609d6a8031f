using Ril.Tensors;

namespace Ril.Training;

/// <summary>
/// Which parts of a VLM train (RIL Table 5(c)): the vision encoder, the projector, the LM, or LM sub-modules.
/// Parts are matched on Hugging Face parameter names; frozen parameters stop requiring gradients, so backward
/// does not compute theirs.
/// </summary>
public static class TrainableParts
{
    /// <summary>Part name → which parameter names belong to it.</summary>
    public static readonly IReadOnlyDictionary<string, Func<string, bool>> Parts = new Dictionary<string, Func<string, bool>>
    {
        ["vision"] = n => n.StartsWith("vision_tower.") || n.StartsWith("vision_model."),
        ["projector"] = n => n.StartsWith("multi_modal_projector."),
        ["lm"] = n => n.StartsWith("model.") || n.StartsWith("lm_head."),
        ["lm.embeddings"] = n => n.StartsWith("model.embed_tokens."),
        ["lm.attention"] = n => n.StartsWith("model.layers.") && n.Contains(".self_attn."),
        ["lm.mlp"] = n => n.StartsWith("model.layers.") && n.Contains(".mlp."),
        ["lm.mlp.gate"] = n => n.StartsWith("model.layers.") && n.Contains(".mlp.gate_proj."),
        ["lm.mlp.up"] = n => n.StartsWith("model.layers.") && n.Contains(".mlp.up_proj."),
        ["lm.mlp.down"] = n => n.StartsWith("model.layers.") && n.Contains(".mlp.down_proj."),
        ["lm.norms"] = n => n.StartsWith("model.") && (n.Contains("layernorm.") || n.StartsWith("model.norm.")),
        ["lm.head"] = n => n.StartsWith("lm_head."),
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
