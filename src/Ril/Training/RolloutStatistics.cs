using Ril.Models.Generation;
using Ril.Tensors.Distributed;

namespace Ril.Training;

/// <summary>
/// The step metrics that summarise a trajectory's rollouts, over the global batch: in a data-parallel run each process
/// contributes sums and counts (pooled, never averaged ratios), so every process gets what a single process would.
/// </summary>
/// <param name="GeneratedTokens">Tokens the student generated (teachers' responses are not generated).</param>
public sealed record RolloutStatistics(float Reward, IReadOnlyDictionary<string, float> RewardByName, float ResponseLength,
    float LengthClipRatio, float EndTokenShare, float Entropy, long GeneratedTokens)
{
    public static RolloutStatistics Of(Trajectory tr, ICommunicator world)
    {
        var names = tr.RewardsByName.Keys.Order(StringComparer.Ordinal).ToArray();   // the same reward set, so the same order, everywhere
        double entropy = 0, tokens = 0;
        for (int j = 0; j < tr.Mask.Length; j++) { entropy += tr.Mask[j] * tr.Entropy[j]; tokens += tr.Mask[j]; }
        var sums = new List<double>
        {
            tr.Rollouts.Count, tr.Rewards.Sum(r => (double)r), tr.Rollouts.Sum(r => (double)r.Tokens.Length),
            tr.Rollouts.Count(r => r.FinishReason == GeneratedSequence.Length), tr.Rollouts.Count(r => r.FinishReason == GeneratedSequence.Stop),
            entropy, tokens, tr.Rollouts.Where(r => !r.IsTeacher).Sum(r => (double)r.Tokens.Length),
        };
        sums.AddRange(names.Select(n => tr.RewardsByName[n].Sum(r => (double)r)));
        var p = world.Sum([.. sums]);
        double rollouts = Math.Max(p[0], 1);
        return new RolloutStatistics((float)(p[1] / rollouts), names.Select((n, i) => (n, (float)(p[8 + i] / rollouts))).ToDictionary(),
            (float)(p[2] / rollouts), (float)(p[3] / rollouts), (float)(p[4] / rollouts), (float)(p[5] / Math.Max(p[6], 1)), (long)p[7]);
    }
}
