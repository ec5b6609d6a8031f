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

/// <summary>How the teachers' responses act on the policy (docs/spec/RIL.md "Teacher tokens"; the repairs of issue 18).</summary>
public enum TeacherTokens
{
    /// <summary>The paper: teacher responses join the group and enter the clipped loss like the student's own, π_old their likelihood under the sampler.</summary>
    Published,
    /// <summary>LUFFY: in the group, but each teacher token's ratio is π_θ/1 (π_old := 1) shaped by f(ρ) = ρ/(ρ+γ), unclipped.</summary>
    Shaped,
    /// <summary>CHORD-φ: out of the RL loss; an auxiliary NLL on the teacher's tokens weighted by φ = p(1−p), mixed by µ: (1−µ)·L_RL + µ·L_SFT.</summary>
    Chord,
    /// <summary>Out of the group and the loss: the teachers feed the discriminator only (the similarity reward).</summary>
    None,
}

/// <summary>Which groups get teacher responses (AMPO's guidance on demand).</summary>
public enum TeacherWhen
{
    /// <summary>Every group: G student + G teacher responses (the paper's 2G).</summary>
    Always,
    /// <summary>Only groups in which every student answer fails (answer reward below 0.5); k teacher responses replace k student ones.</summary>
    AllFail,
    /// <summary>Only groups whose student accuracy (mean answer reward) is below <see cref="RilConfig.TeacherThreshold"/>; replacement as for AllFail.</summary>
    Below,
}

/// <summary>Teacher knowledge that reaches the student through prompts instead of gradients.</summary>
public enum Guidance
{
    /// <summary>None beyond what <see cref="TeacherTokens"/> says.</summary>
    None,
    /// <summary>ZPPO: BCQ and NCQ prompts for hard questions and a prompt replay buffer (docs/spec/RIL.md "ZPPO").</summary>
    Zppo,
}

/// <summary>ZPPO's settings (the recipe's `zppo` section); choices the paper leaves open are documented in docs/spec/RIL.md.</summary>
public sealed record ZppoConfig
{
    /// <summary>A question is hard (admitted to the buffer, given BCQ/NCQ prompts) while its student accuracy is below this; it graduates at or above it.</summary>
    public float Threshold { get; init; } = 0.5f;
    /// <summary>Questions the replay buffer holds; the oldest is evicted when a new one is admitted to a full buffer (FIFO).</summary>
    public int BufferCapacity { get; init; } = 64;
    /// <summary>Of each step's questions, how many come from the buffer (when it holds that many); the rest are fresh.</summary>
    public int ReplayPerStep { get; init; } = 2;
    /// <summary>Hard questions per step that get BCQ and NCQ prompts (the hardest first); each adds two groups of G.</summary>
    public int HardPerStep { get; init; } = 2;
    /// <summary>The most wrong student responses an NCQ prompt lists.</summary>
    public int MaxWrongInNcq { get; init; } = 2;

    public void Validate(RlConfig rl)
    {
        ConfigKey.Require(Threshold > 0 && Threshold <= 1, "zppo.threshold", "must be in (0, 1]");
        ConfigKey.Require(BufferCapacity >= 1, "zppo.buffer_capacity", "must be positive");
        ConfigKey.Require(ReplayPerStep >= 0 && ReplayPerStep < rl.QuestionsPerStep, "zppo.replay_per_step", $"must be in [0, trainer.questions_per_step = {rl.QuestionsPerStep})");
        ConfigKey.Require(HardPerStep >= 0, "zppo.hard_per_step", "must be ≥ 0");
        ConfigKey.Require(MaxWrongInNcq >= 1, "zppo.max_wrong_in_ncq", "must be positive");
    }
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
    /// <summary>How teacher responses act on the policy; the paper's is <see cref="TeacherTokens.Published"/>.</summary>
    public TeacherTokens TeacherTokens { get; init; } = TeacherTokens.Published;
    /// <summary>γ of LUFFY's shaping f(ρ) = ρ/(ρ+γ) (<see cref="TeacherTokens.Shaped"/>).</summary>
    public float ShapingGamma { get; init; } = 0.1f;
    /// <summary>µ of CHORD's mix (1−µ)·L_RL + µ·L_SFT-φ (<see cref="TeacherTokens.Chord"/>).</summary>
    public float ChordMu { get; init; } = 0.1f;
    public TeacherWhen TeacherWhen { get; init; } = TeacherWhen.Always;
    /// <summary>For <see cref="TeacherWhen.Below"/>: a group gets teacher responses when its student accuracy is below this.</summary>
    public float TeacherThreshold { get; init; } = 0.5f;
    /// <summary>For AllFail/Below: k, the student responses a needy group's teacher responses replace (the group stays G).</summary>
    public int TeacherSlots { get; init; } = 2;
    public Guidance Guidance { get; init; } = Guidance.None;
    public ZppoConfig Zppo { get; init; } = new();

    /// <summary>Whether teacher responses are members of the groups (advantages over them, and in the clipped loss).</summary>
    public bool TeachersInGroup => TeacherTokens is TeacherTokens.Published or TeacherTokens.Shaped;
    /// <summary>Whether teacher rows enter the update at all (in the group, or as CHORD's auxiliary NLL).</summary>
    public bool TeachersInUpdate => TeacherTokens != TeacherTokens.None;
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
            "'students' needs ril.teacher_tokens published or shaped (without teachers in the group the baseline is the students' mean already)");
        ConfigKey.Require(ShapingGamma > 0, "ril.shaping_gamma", "must be positive");
        ConfigKey.Require(ChordMu >= 0 && ChordMu <= 1, "ril.chord_mu", "must be in [0, 1]");
        ConfigKey.Require(TeacherThreshold > 0 && TeacherThreshold <= 1, "ril.teacher_threshold", "must be in (0, 1]");
        ConfigKey.Require(TeacherWhen == TeacherWhen.Always || (TeacherSlots >= 1 && TeacherSlots <= rl.GroupSize), "ril.teacher_slots",
            $"must be in [1, G = {rl.GroupSize}] when teachers join only needy groups");
        ConfigKey.Require(TeacherWhen == TeacherWhen.Always || TeachersInUpdate, "ril.teacher_when",
            "needs ril.teacher_tokens other than 'none' (with none, no teacher response reaches the update)");
        ConfigKey.Require(TeacherWhen == TeacherWhen.Always || StudentBaseline == StudentBaseline.Group, "ril.student_baseline",
            "'students' goes with ril.teacher_when: always");
        ConfigKey.Require(Guidance != Guidance.Zppo || TeacherTokens == TeacherTokens.None, "ril.guidance",
            "'zppo' keeps the teacher out of the gradient: it needs ril.teacher_tokens: none");
        if (Guidance == Guidance.Zppo) Zppo.Validate(rl);
        DiscriminatorSettings.Validate();
    }
}
