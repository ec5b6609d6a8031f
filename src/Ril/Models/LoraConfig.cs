namespace Ril.Models;

/// <summary>
/// LoRA's settings (Hu et al. 2021), named as PEFT's LoraConfig and adapter_config.json: rank r, lora_alpha, lora_dropout
/// and the projections to adapt. An adapted projection computes W₀x + (α/r)·B·A·dropout(x).
/// </summary>
public sealed record LoraConfig
{
    /// <summary>The Llama/Qwen2 projections: attention's four and the SwiGLU MLP's three.</summary>
    public static readonly IReadOnlyList<string> AllProjections = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    /// <summary>
    /// Qwen3.5's Gated DeltaNet projections (linear_attn.*; docs/spec/QWEN3_5.md): adapted only when target_modules names
    /// them, as PEFT does; the default targets adapt the MLP of every layer and attention on the full-attention layers.
    /// </summary>
    public static readonly IReadOnlyList<string> LinearAttentionProjections = ["in_proj_qkv", "in_proj_z", "in_proj_b", "in_proj_a", "out_proj"];

    /// <summary>Every module name target_modules may list.</summary>
    public static IReadOnlyList<string> KnownModules => [.. AllProjections, .. LinearAttentionProjections];

    /// <summary>r: the rank of the update B·A.</summary>
    public int Rank { get; init; } = 8;
    /// <summary>lora_alpha: the update is scaled by alpha / r.</summary>
    public float Alpha { get; init; } = 16f;
    /// <summary>lora_dropout: dropout on the adapter's input while training.</summary>
    public float Dropout { get; init; }
    /// <summary>
    /// target_modules: module names to adapt. As PEFT does for a list, an entry matches a module whose full name is the
    /// entry or ends with "." + the entry ("q_proj" matches "model.layers.3.self_attn.q_proj").
    /// </summary>
    public IReadOnlyList<string> TargetModules { get; init; } = AllProjections;

    /// <summary>α / r, PEFT's scaling of the update.</summary>
    public float Scaling => Alpha / Rank;

    /// <summary>Whether the module <paramref name="module"/> (a weight's name without ".weight") is adapted.</summary>
    public bool Targets(string module) => TargetModules.Any(t => module == t || module.EndsWith("." + t, StringComparison.Ordinal));

    /// <summary>Checks the ranges; <paramref name="source"/> names the file (or recipe) the values came from.</summary>
    public void Validate(string source)
    {
        void Require(bool ok, string field, string why) { if (!ok) throw new InvalidDataException($"{source}: field '{field}' {why}"); }
        Require(Rank >= 1, "r", $"({Rank}) must be at least 1");
        Require(float.IsFinite(Alpha) && Alpha > 0, "lora_alpha", $"({Alpha}) must be positive");
        Require(Dropout >= 0 && Dropout < 1, "lora_dropout", $"({Dropout}) must be in [0, 1)");
        Require(TargetModules.Count > 0 && TargetModules.All(t => !string.IsNullOrWhiteSpace(t)), "target_modules", "must list at least one module name");
    }
}
