using Ril.Tensors;
using Ril.Training;

namespace Ril.Tests.Training;

/// <summary>docs/spec/LOSSES.md: the hand-computed case, gradients with respect to logp, and a finite-difference check off-policy.</summary>
public class PolicyLossTests
{
    // One group, n = 2, L = 4, on-policy (ρ = 1), R = [1, 0], M_1 = 2, M_2 = 4.
    static readonly float[] Rewards = [1f, 0f];
    static readonly float[] Mask = [1, 1, 0, 0, 1, 1, 1, 1];
    static readonly float[] OnPolicy = [-0.5f, -1.2f, 0f, 0f, -0.3f, -2f, -0.7f, -1.1f];

    static (float loss, float[] grad) Run(Objective objective, float[]? batchTokens = null)
    {
        var adv = Advantages.GroupRelative(Rewards, 2, objective.ScalesByStd());
        var logp = Tensor.FromArray(OnPolicy, 8).AsParameter("logp");
        var batch = new PolicyBatch((float[])OnPolicy.Clone(), null, Mask, adv, Rows: 2, MaxLength: 4, BatchValidTokens: batchTokens?[0] ?? 0);
        var (loss, _) = PolicyLoss.Compute(objective, logp, batch, 0.2f, 0.2f, beta: 0f);
        loss.Backward();
        return (loss.Item(), logp.Grad!.ToArray());
    }

    [Fact]
    public void Hand_computed_losses_of_the_spec()
    {
        Assert.Equal(0.125f, Run(Objective.DrGrpo).loss, 5);
        Assert.Equal(0.0f, Run(Objective.Grpo).loss, 5);
        Assert.Equal(0.23567f, Run(Objective.Bnpo).loss, 4);
        var adv = Advantages.GroupRelative(Rewards, 2, scaleByStd: true);
        Assert.Equal(0.70701f, adv[0], 4);
        Assert.Equal(-0.70701f, adv[1], 4);
    }

    [Fact]
    public void Gradients_with_respect_to_logp_differ_where_losses_coincide()
    {
        // On-policy, d ℓ / d logp = −A on valid tokens; the aggregation sets the scale.
        float a = 0.70701f;
        var grpo = Run(Objective.Grpo).grad;                 // −A_i / (B·M_i)
        Assert.Equal(-a / (2 * 2), grpo[0], 4);
        Assert.Equal(a / (2 * 4), grpo[4], 4);
        Assert.Equal(0f, grpo[2]);
        var bnpo = Run(Objective.Bnpo).grad;                 // −A_i / Σ M
        Assert.Equal(-a / 6, bnpo[0], 4);
        Assert.Equal(a / 6, bnpo[4], 4);
        var dr = Run(Objective.DrGrpo).grad;                 // −A_i / (B·L), A = R − mean
        Assert.Equal(-0.5f / 8, dr[0], 5);
        Assert.Equal(0.5f / 8, dr[7], 5);
        var dapo = Run(Objective.Dapo, [10f]).grad;           // −A_i / (batch tokens)
        Assert.Equal(-a / 10, dapo[1], 4);
    }

    [Fact]
    public void Ril_matches_dr_grpo_aggregation_with_group_mean_advantages()
    {
        // RIL: A = R − mean over the 2G group, no std; aggregation as dr_grpo.
        float[] r = [2, 0, 1, 1];   // G = 2 student + 2 teacher responses
        var adv = Advantages.GroupRelative(r, 4, scaleByStd: false);
        Assert.Equal([1f, -1f, 0f, 0f], adv);
        Assert.False(Objective.Ril.ScalesByStd());
        var logp = Tensor.FromArray(new float[16], 16).AsParameter("logp");
        var m = Enumerable.Repeat(1f, 16).ToArray();
        var (loss, _) = PolicyLoss.Compute(Objective.Ril, logp, new PolicyBatch(new float[16], null, m, adv, 4, 4), 0.2f, 0.2f, 0f);
        Assert.Equal(0f, loss.Item(), 6);   // Σ A = 0 on-policy
        loss.Backward();
        Assert.Equal(-1f / 16, logp.Grad!.Data[0], 6);
    }

    [Fact]
    public void Off_policy_loss_with_kl_matches_finite_differences()
    {
        var rng = new Rng(3);
        float[] logp0 = Enumerable.Range(0, 8).Select(_ => -1.5f + 0.5f * rng.NextFloat()).ToArray();
        float[] old = logp0.Select(v => v + 0.3f * (rng.NextFloat() - 0.5f)).ToArray();
        float[] refLp = logp0.Select(v => v + 0.4f * (rng.NextFloat() - 0.5f)).ToArray();
        var adv = new[] { 0.8f, -0.6f };
        foreach (var objective in new[] { Objective.Grpo, Objective.Bnpo, Objective.DrGrpo, Objective.ReinforcePP })
        {
            double Loss(float[] lp)
            {
                var t = Tensor.FromArray(lp, 8);
                return PolicyLoss.Compute(objective, t, new PolicyBatch(old, refLp, Mask, adv, 2, 4, AccumulationSteps: 2), 0.1f, 0.15f, 0.05f).Loss.Item();
            }
            var p = Tensor.FromArray(logp0, 8).AsParameter("logp");
            var (loss, stats) = PolicyLoss.Compute(objective, p, new PolicyBatch(old, refLp, Mask, adv, 2, 4, AccumulationSteps: 2), 0.1f, 0.15f, 0.05f);
            loss.Backward();
            for (int j = 0; j < 8; j++)
            {
                var plus = (float[])logp0.Clone(); plus[j] += 1e-3f;
                var minus = (float[])logp0.Clone(); minus[j] -= 1e-3f;
                double fd = (Loss(plus) - Loss(minus)) / 2e-3;
                Assert.True(Math.Abs(fd - p.Grad!.Data[j]) < 2e-3, $"{objective} token {j}: backward {p.Grad!.Data[j]}, finite difference {fd}");
            }
            Assert.InRange(stats.ClipFraction, 0f, 1f);
        }
    }

    [Fact]
    public void Reinforce_pp_whitens_over_valid_tokens_and_shifts_the_mean_back()
    {
        float[] scores = [1f, -0.1f];
        var a = Advantages.ReinforcePlusPlus(scores, Mask, 4);
        // valid returns: 1, 1, −0.1 ×4 → μ = 0.2667, σ² (Bessel) over 6 tokens
        double mu = (2 * 1.0 + 4 * -0.1) / 6, var = (2 * Math.Pow(1 - mu, 2) + 4 * Math.Pow(-0.1 - mu, 2)) / 5;
        Assert.Equal((float)((1 - mu) / Math.Sqrt(var + 1e-8) + mu), a[0], 5);
        Assert.Equal((float)((-0.1 - mu) / Math.Sqrt(var + 1e-8) + mu), a[4], 5);
        Assert.Equal(0f, a[2]);
    }
}
