using Ril.Data;
using Ril.Rewards;

namespace Ril.Training;

/// <summary>What the discriminator does during RIL (the paper's ablation: no D / frozen D / updating D).</summary>
public enum DiscriminatorMode
{
    /// <summary>Updated µ times on every batch before scoring it (Algorithm 2). The default.</summary>
    Updating,
    /// <summary>The pre-trained discriminator, never updated during RIL.</summary>
    Frozen,
    /// <summary>No discriminator and no similarity reward: with teachers out of the group this is Dr.GRPO.</summary>
    None,
}

/// <summary>The baseline subtracted from the student's own responses' rewards when the teachers are in the group.</summary>
public enum StudentBaseline
{
    /// <summary>The mean over all 2G responses, teachers' included (docs/spec/RIL.md). The default.</summary>
    Group,
    /// <summary>The mean over the group's student responses (<see cref="Advantages.CentreStudentsOnTheirOwnMean"/>); teachers keep the 2G mean.</summary>
    Students,
}

/// <summary>
/// The RIL-specific part of a run (the recipe's `ril` section); the shared RL settings (G, L, ε, β, µ for the policy,
/// optimizer) stay in <see cref="RlConfig"/>, whose objective must be <see cref="Objective.Ril"/>.
/// </summary>
public sealed record RilConfig
{
    public DiscriminatorMode Discriminator { get; init; } = DiscriminatorMode.Updating;
    public DiscriminatorConfig DiscriminatorSettings { get; init; } = new();
    public SimilarityKind Similarity { get; init; } = SimilarityKind.Binary;
    /// <summary>R = w_s·similarity + w_a·answer; the paper's unweighted sum is 1 and 1.</summary>
    public float SimilarityWeight { get; init; } = 1f;
    public float AnswerWeight { get; init; } = 1f;
    /// <summary>Whether the G teacher responses join the student's G in the group (advantages over 2G, and in the loss). The paper: yes.</summary>
    public bool TeachersInGroup { get; init; } = true;
    /// <summary>With the teachers in the group: the baseline of the student's own responses (the paper: the 2G mean).</summary>
    public StudentBaseline StudentBaseline { get; init; } = StudentBaseline.Group;
    public TeacherSampling TeacherSampling { get; init; } = TeacherSampling.RoundRobin;
    /// <summary>Teacher → responses per group, for <see cref="TeacherSampling.FixedQuota"/> (must add up to G).</summary>
    public IReadOnlyDictionary<string, int>? TeacherQuota { get; init; }
    /// <summary>The teachers to use (one, or several); every teacher of the cache when null.</summary>
    public IReadOnlyList<string>? Teachers { get; init; }

    public void Validate(RlConfig rl)
    {
        ConfigKey.Require(rl.Objective == Objective.Ril, "loss.objective", $"must be 'ril' for a RIL run (it is '{rl.Objective.Name()}')");
        ConfigKey.Require(SimilarityWeight >= 0 && AnswerWeight >= 0 && SimilarityWeight + AnswerWeight > 0, "ril.reward_weights", "must be ≥ 0 and not both 0");
        ConfigKey.Require(Discriminator != DiscriminatorMode.None || AnswerWeight > 0, "ril.answer_weight", "must be positive when there is no discriminator");
        ConfigKey.Require(TeacherSampling != TeacherSampling.FixedQuota || TeacherQuota?.Values.Sum() == rl.GroupSize,
            "ril.teacher_quota", $"must add up to G = {rl.GroupSize} for the fixed-quota policy");
        ConfigKey.Require(Teachers is null || Teachers.Count > 0, "ril.teachers", "must name at least one teacher");
        ConfigKey.Require(StudentBaseline == StudentBaseline.Group || TeachersInGroup, "ril.student_baseline",
            "'students' needs ril.teachers_in_group: true (without teachers in the group the baseline is the students' mean already)");
        DiscriminatorSettings.Validate();
    }
}
