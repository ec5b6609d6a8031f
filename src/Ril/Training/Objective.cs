namespace Ril.Training;

/// <summary>The policy-gradient loss variants of docs/spec/LOSSES.md; each fixes its advantage and its aggregation.</summary>
public enum Objective
{
    /// <summary>A = (R − mean_g R)/(std_g R + 1e-4); loss = (1/B) Σ_i (Σ_t m ℓ)/max(M_i, 1).</summary>
    Grpo,
    /// <summary>A as grpo; loss = Σ m ℓ / max(Σ_i M_i, 1).</summary>
    Bnpo,
    /// <summary>A = R − mean_g R; loss = Σ m ℓ / (B·L).</summary>
    DrGrpo,
    /// <summary>A as grpo; loss = Σ m ℓ / (valid tokens of the whole generation batch).</summary>
    Dapo,
    /// <summary>MAYE's Reinforce++: token-whitened returns with the mean shifted back; loss = Σ m ℓ / Σ m.</summary>
    ReinforcePP,
    /// <summary>RIL: A = R − mean over the 2G group (student + teacher), no std; aggregated as dr_grpo.</summary>
    Ril,
}

public static class Objectives
{
    public static Objective Parse(string name) => name switch
    {
        "grpo" => Objective.Grpo,
        "bnpo" => Objective.Bnpo,
        "dr_grpo" => Objective.DrGrpo,
        "dapo" => Objective.Dapo,
        "reinforce_pp" => Objective.ReinforcePP,
        "ril" => Objective.Ril,
        _ => throw new ArgumentException($"unknown objective '{name}' (grpo, bnpo, dr_grpo, dapo, reinforce_pp, ril)"),
    };

    public static string Name(this Objective o) => o switch
    {
        Objective.Grpo => "grpo", Objective.Bnpo => "bnpo", Objective.DrGrpo => "dr_grpo",
        Objective.Dapo => "dapo", Objective.ReinforcePP => "reinforce_pp", _ => "ril",
    };

    /// <summary>Whether advantages are divided by the group's reward std.</summary>
    public static bool ScalesByStd(this Objective o) => o is Objective.Grpo or Objective.Bnpo or Objective.Dapo;
}
