using Ril.Data;
using Ril.Tensors;
using Ril.Training;

namespace Ril.Tests.Training;

/// <summary>
/// docs/spec/RIL.md "Teacher tokens", "Teachers on demand" and "ZPPO": each repair's loss and gradient on a hand-computed
/// group, the injection rule, and ZPPO's prompts and buffer.
/// </summary>
public class TeacherGuidanceTests
{
    // One group of a student row and a teacher row, L = 2, one valid token each (the second position is padding).
    // Student token: logp = old = ln 0.5 (ρ = 1), A = −0.5. Teacher token: logp = ln 0.2 under π_θ, old = ln 0.2, A = +0.5.
    static readonly float LnHalf = MathF.Log(0.5f), LnFifth = MathF.Log(0.2f);
    static readonly float[] Logp = [LnHalf, 0f, LnFifth, 0f];
    static readonly float[] Mask = [1, 0, 1, 0];
    static readonly float[] Adv = [-0.5f, 0.5f];

    static (float Loss, float[] Grad, PolicyLossStats Stats) Run(TeacherTerm term)
    {
        var logp = Tensor.FromArray(Logp, 4).AsParameter("logp");
        var batch = new PolicyBatch((float[])Logp.Clone(), null, Mask, Adv, Rows: 2, MaxLength: 2, Teacher: [false, true]);
        var (loss, stats) = PolicyLoss.Compute(Objective.Ril, logp, batch, 0.2f, 0.2f, beta: 0f, term);
        loss.Backward();
        return (loss.Item(), logp.Grad!.ToArray(), stats);
    }

    [Fact]
    public void Published_teacher_tokens_are_advantage_weighted_log_likelihood()
    {
        // ρ = 1 on both rows: ℓ = −A per token; Σ/(B·L) = (0.5 − 0.5)/4 = 0; d/dlogp = −A/(B·L).
        var (loss, grad, stats) = Run(TeacherTerm.Published);
        Assert.Equal(0f, loss, 6);
        Assert.Equal(0.5f / 4, grad[0], 6);
        Assert.Equal(-0.5f / 4, grad[2], 6);
        Assert.Equal(0f, grad[1]);
        Assert.Equal(1f, stats.TeacherTokens);
        Assert.Equal(0.5f, stats.TeacherWeight, 5);        // ρ·|A|
    }

    [Fact]
    public void Shaped_teacher_tokens_take_luffys_weight()
    {
        // LUFFY, γ = 0.1: π_old := 1, so ρ = π_θ = 0.2; ℓ = −f(ρ)·A with f = ρ/(ρ+γ) = 2/3 → −1/3.
        // Loss = (0.5·1 [student: −A·ρ = 0.5] − 1/3) / 4 = 0.041667.
        // d ℓ/d logp = −A · γρ/(ρ+γ)² = −0.5 · 0.02/0.09 = −0.111111; ÷ (B·L) = −0.0277778.
        var (loss, grad, stats) = Run(new TeacherTerm(TeacherTokens.Shaped, Gamma: 0.1f));
        Assert.Equal((0.5f - 1f / 3) / 4, loss, 5);
        Assert.Equal(-0.5f * (0.1f * 0.2f / (0.3f * 0.3f)) / 4, grad[2], 5);
        Assert.Equal(0.5f / 4, grad[0], 6);                  // the student's token is untouched
        Assert.Equal(0.1f * 0.2f / 0.09f * 0.5f, stats.TeacherWeight, 4);
    }

    [Fact]
    public void Shaped_teacher_tokens_are_not_clipped()
    {
        // A teacher token at π_θ = 0.9 under old log-prob ln 0.2 would be clipped by the published objective (ρ = 4.5 > 1.2): no gradient.
        float[] logpValues = [LnHalf, 0f, MathF.Log(0.9f), 0f];
        float[] old = [LnHalf, 0f, LnFifth, 0f];
        float Grad(TeacherTerm term)
        {
            var logp = Tensor.FromArray(logpValues, 4).AsParameter("logp");
            var (loss, _) = PolicyLoss.Compute(Objective.Ril, logp, new PolicyBatch(old, null, Mask, Adv, 2, 2, Teacher: [false, true]), 0.2f, 0.2f, 0f, term);
            loss.Backward();
            return logp.Grad!.ToArray()[2];
        }
        Assert.Equal(0f, Grad(TeacherTerm.Published));
        Assert.Equal(-0.5f * (0.1f * 0.9f / (1.0f * 1.0f)) / 4, Grad(new TeacherTerm(TeacherTokens.Shaped, Gamma: 0.1f)), 5);
    }

    [Fact]
    public void Chord_moves_teacher_text_into_a_phi_weighted_nll()
    {
        // CHORD-φ, µ = 0.25: the RL term covers the student's row only (B = 1): ℓ = 0.5 → Σ/(B·L) = 0.25, times (1 − µ) = 0.1875.
        // The teacher token: p = 0.2, φ = p(1−p) = 0.16; L_SFT = −φ·log p / 1 token = 0.16·1.609438 = 0.2575101; times µ = 0.0643775.
        // Gradients: student −A/(B·L)·(1−µ) = 0.5/2·0.75 = 0.1875; teacher −µ·φ (φ held constant) = −0.04.
        var (loss, grad, stats) = Run(new TeacherTerm(TeacherTokens.Chord, Mu: 0.25f));
        Assert.Equal(0.1875f + 0.25f * 0.16f * -LnFifth, loss, 5);
        Assert.Equal(0.1875f, grad[0], 5);
        Assert.Equal(-0.25f * 0.16f, grad[2], 5);
        Assert.Equal(0.25f * 0.16f, stats.TeacherWeight, 5);
    }

    [Fact]
    public void Chord_with_mu_zero_is_dr_grpo_on_the_students_rows()
    {
        var (loss, grad, _) = Run(new TeacherTerm(TeacherTokens.Chord, Mu: 0f));
        Assert.Equal(0.5f / 2, loss, 6);                     // Σ/(B·L) over the student's row alone
        Assert.Equal(0f, grad[2]);
    }

    static Rollout R(int q, string source, string text = "") => new(q, source, [1, 2], text, "stop");

    [Fact]
    public void Teachers_join_only_failing_groups_replacing_student_slots()
    {
        // AMPO's rule with G = 4, k = 2: question 0 has accuracy 0 (every student answer fails), question 1 has 0.25.
        int g = 4;
        var students = Enumerable.Range(0, 2).SelectMany(q => Enumerable.Range(0, g).Select(i => R(q, Rollout.Student, $"s{q}{i}"))).ToList();
        var teachers = Enumerable.Range(0, 2).SelectMany(q => Enumerable.Range(0, g).Select(i => R(q, "terse", $"t{q}{i}"))).ToList();
        float[] accuracy = [0f, 0.25f];

        var allFail = new RilConfig { TeacherTokens = TeacherTokens.Shaped, TeacherWhen = TeacherWhen.AllFail, TeacherSlots = 2 };
        var (rows, outside, needy) = RilTrainer.Compose(allFail, g, 2, students, teachers, accuracy);
        Assert.Equal(["s00", "s01", "t00", "t01", "s10", "s11", "s12", "s13"], rows.Select(r => r.Text));
        Assert.Equal(0, outside);
        Assert.Equal([true, false], needy!);

        var below = allFail with { TeacherWhen = TeacherWhen.Below, TeacherThreshold = 0.5f };
        Assert.Equal(["s00", "s01", "t00", "t01", "s10", "s11", "t10", "t11"], RilTrainer.Compose(below, g, 2, students, teachers, accuracy).Rows.Select(r => r.Text));

        var chord = allFail with { TeacherTokens = TeacherTokens.Chord };   // CHORD: teacher rows after the groups, none replaced
        var (chordRows, chordOutside, _) = RilTrainer.Compose(chord, g, 2, students, teachers, accuracy);
        Assert.Equal([.. students.Select(s => s.Text), "t00", "t01"], chordRows.Select(r => r.Text));
        Assert.Equal(2, chordOutside);

        var always = new RilConfig();                                      // the paper: every group is G + G
        Assert.Equal(16, RilTrainer.Compose(always, g, 2, students, teachers, accuracy).Rows.Count);
        Assert.Same(students, RilTrainer.Compose(new RilConfig { TeacherTokens = TeacherTokens.None }, g, 2, students, teachers, accuracy).Rows);
    }

    [Fact]
    public void Zppo_prompts_hold_the_candidates_anonymised()
    {
        var bcq = ZppoGuidance.Bcq("How many stars are there?", "There are 3 stars. \\boxed{3}", "There are 2 stars. \\boxed{2}", correctFirst: false);
        Assert.StartsWith("How many stars are there?\n\n", bcq);
        Assert.True(bcq.IndexOf("\\boxed{2}", StringComparison.Ordinal) < bcq.IndexOf("\\boxed{3}", StringComparison.Ordinal));   // wrong one first
        Assert.Contains("Candidate 1: There are 2 stars.", bcq);
        Assert.Contains("Candidate 2: There are 3 stars.", bcq);
        foreach (var word in new[] { "teacher", "student", "correct:" }) Assert.DoesNotContain(word, bcq, StringComparison.OrdinalIgnoreCase);

        var ncq = ZppoGuidance.Ncq("How many stars are there?", ["\\boxed{2}", "\\boxed{4}"]);
        Assert.Contains("Attempt 1: \\boxed{2}\nAttempt 2: \\boxed{4}", ncq);
        Assert.DoesNotContain("\\boxed{3}", ncq);
    }

    static DatasetRow Row(string id) => new(id, "q" + id, "1", null, null, new System.Text.Json.Nodes.JsonObject(), "t.jsonl", 1);

    [Fact]
    public void Zppo_buffer_admits_graduates_and_evicts_oldest_first()
    {
        var zppo = new ZppoGuidance(new ZppoConfig { BufferCapacity = 2, ReplayPerStep = 1, Threshold = 0.5f });
        var c = zppo.Observe([Row("a"), Row("b"), Row("c")], [0.25f, 0.75f, 0f]);         // a and c are hard, b is not
        Assert.Equal((2, 0, 0), (c.Admitted, c.Graduated, c.Evicted));
        Assert.Equal(["a", "c"], zppo.Buffer.Select(r => r.Id));

        Assert.Equal(["a"], zppo.TakeReplay().Select(r => r.Id));                         // the oldest, moved to the back
        Assert.Equal(["c", "a"], zppo.Buffer.Select(r => r.Id));

        c = zppo.Observe([Row("d"), Row("a")], [0f, 0.25f]);                               // d admitted into a full buffer: c, the oldest, evicted; a stays
        Assert.Equal((1, 0, 1), (c.Admitted, c.Graduated, c.Evicted));
        Assert.Equal(["a", "d"], zppo.Buffer.Select(r => r.Id));

        c = zppo.Observe([Row("a")], [0.5f]);                                              // a reaches the threshold: it graduates
        Assert.Equal((0, 1, 0), (c.Admitted, c.Graduated, c.Evicted));
        Assert.Equal(["d"], zppo.Buffer.Select(r => r.Id));

        var restored = new ZppoGuidance(zppo.Config);
        restored.Restore(zppo.Save(), new Dictionary<string, DatasetRow> { ["d"] = Row("d") });
        Assert.Equal(["d"], restored.Buffer.Select(r => r.Id));
    }
}
