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
    /// <param name="responses">The rollouts whose length, finish and entropy are summarised (RIL: the student's own); all when null.
    /// Rewards are over every rollout of the group.</param>
    public static RolloutStatistics Of(Trajectory tr, ICommunicator world, Func<Rollout, bool>? responses = null)
    {
        var names = tr.RewardsByName.Keys.Order(StringComparer.Ordinal).ToArray();   // the same reward set, so the same order, everywhere
        var rows = Enumerable.Range(0, tr.Rollouts.Count).Where(r => responses is null || responses(tr.Rollouts[r])).ToList();
        double entropy = 0, tokens = 0;
        foreach (var r in rows)
            for (int t = r * tr.MaxLength; t < (r + 1) * tr.MaxLength; t++) { entropy += tr.Mask[t] * tr.Entropy[t]; tokens += tr.Mask[t]; }
        var sums = new List<double>
        {
            tr.Rollouts.Count, tr.Rewards.Sum(r => (double)r), rows.Sum(r => (double)tr.Rollouts[r].Tokens.Length),
            rows.Count(r => tr.Rollouts[r].FinishReason == GeneratedSequence.Length), rows.Count(r => tr.Rollouts[r].FinishReason == GeneratedSequence.Stop),
            entropy, tokens, tr.Rollouts.Where(r => !r.IsTeacher).Sum(r => (double)r.Tokens.Length), rows.Count,
        };
        sums.AddRange(names.Select(n => tr.RewardsByName[n].Sum(r => (double)r)));
        var p = world.Sum([.. sums]);
        double rollouts = Math.Max(p[0], 1), summarised = Math.Max(p[8], 1);
        return new RolloutStatistics((float)(p[1] / rollouts), names.Select((n, i) => (n, (float)(p[9 + i] / rollouts))).ToDictionary(),
            (float)(p[2] / summarised), (float)(p[3] / summarised), (float)(p[4] / summarised), (float)(p[5] / Math.Max(p[6], 1)), (long)p[7]);
    }
}
