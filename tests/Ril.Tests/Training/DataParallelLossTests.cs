using Ril.Tensors;
using Ril.Tensors.Distributed;
using Ril.Training;

namespace Ril.Tests.Training;

/// <summary>
/// Data-parallel losses are the single process's: a micro-batch split between processes, each part normalised by the
/// whole micro-batch (its rows, its valid tokens, the batch's token count for dapo), sums to the same loss and gradient
/// for every objective; Reinforce++ whitens over the global batch, not per process (unlike MAYE).
/// </summary>
public class DataParallelLossTests
{
    const int Rows = 4, L = 5;
    static readonly float[] Mask =
    [
        1, 1, 1, 0, 0,
        1, 1, 1, 1, 1,
        1, 0, 0, 0, 0,
        1, 1, 1, 1, 0,
    ];

    [Theory]
    [InlineData(Objective.Grpo)]
    [InlineData(Objective.Bnpo)]
    [InlineData(Objective.DrGrpo)]
    [InlineData(Objective.Dapo)]
    [InlineData(Objective.ReinforcePP)]
    [InlineData(Objective.Ril)]
    public void A_micro_batch_split_between_processes_has_the_loss_and_gradient_of_the_whole(Objective objective)
    {
        var rng = new Rng(11);
        float[] logp = Enumerable.Range(0, Rows * L).Select(_ => -2f + rng.NextFloat()).ToArray();
        float[] old = logp.Select(v => v + 0.2f * (rng.NextFloat() - 0.5f)).ToArray();
        float[] refLp = logp.Select(v => v + 0.3f * (rng.NextFloat() - 0.5f)).ToArray();
        bool perToken = objective == Objective.ReinforcePP;
        float[] adv = Enumerable.Range(0, perToken ? Rows * L : Rows).Select(_ => rng.NextFloat() - 0.5f).ToArray();
        const float batchTokens = 40;   // dapo: the generation batch's valid tokens (more than this micro-batch's)

        (float Loss, float[] Grad) Run(int[] rows, int microBatchRows = 0, float? microBatchTokens = null)
        {
            float[] Take(float[] src, int width) => rows.SelectMany(r => src.Skip(r * width).Take(width)).ToArray();
            var p = Tensor.FromArray(Take(logp, L), rows.Length * L).AsParameter("logp");
            var batch = new PolicyBatch(Take(old, L), Take(refLp, L), Take(Mask, L), perToken ? Take(adv, L) : Take(adv, 1), rows.Length, L,
                AccumulationSteps: 2, BatchValidTokens: batchTokens, MicroBatchRows: microBatchRows, MicroBatchTokens: microBatchTokens);
            var (loss, _) = PolicyLoss.Compute(objective, p, batch, 0.2f, 0.25f, 0.05f);
            loss.Backward();
            return (loss.Item(), p.Grad!.ToArray());
        }

        var whole = Run([0, 1, 2, 3]);
        int[] first = [0, 2], second = [1, 3];
        float tokens = Mask.Sum();
        var a = Run(first, Rows, tokens);
        var b = Run(second, Rows, tokens);
        Assert.Equal(whole.Loss, a.Loss + b.Loss, 5);
        for (int i = 0; i < 2; i++)
            for (int t = 0; t < L; t++)
            {
                Assert.Equal(whole.Grad[first[i] * L + t], a.Grad[i * L + t], 6);
                Assert.Equal(whole.Grad[second[i] * L + t], b.Grad[i * L + t], 6);
            }
    }

    [Fact]
    public void Reinforce_pp_whitens_over_the_global_batch_when_processes_share_it()
    {
        float[] scores = [1f, 0f, 0.5f, 1f];
        var whole = Advantages.ReinforcePlusPlus(scores, Mask, L);
        var parts = InProcessGroup.Run(2, world =>
        {
            var (start, count) = world.ShareOf(Rows);
            return Advantages.ReinforcePlusPlus(scores.AsSpan(start, count), Mask.AsSpan(start * L, count * L), L, world);
        });
        Assert.Equal(whole, parts.SelectMany(p => p));
    }
}
