using Ril.Rewards;

namespace Ril.Training;

/// <summary>Named reward functions with weights; the total is their weighted sum, and each is reported on its own.</summary>
public sealed class RewardSet(IReadOnlyList<(IRewardFunction Function, float Weight)> parts)
{
    public IReadOnlyList<(IRewardFunction Function, float Weight)> Parts { get; } = parts.Count > 0 ? parts
        : throw new ArgumentException("RewardSet: at least one reward function");

    /// <summary>Totals per input, and each function's raw scores by name.</summary>
    public (float[] Total, Dictionary<string, float[]> ByName) Score(IReadOnlyList<RewardInput> inputs)
    {
        var total = new float[inputs.Count];
        var byName = new Dictionary<string, float[]>();
        foreach (var (function, weight) in Parts)
        {
            var scores = function.ScoreAsync(inputs).GetAwaiter().GetResult();
            if (scores.Length != inputs.Count) throw new InvalidOperationException($"reward '{function.Name}' returned {scores.Length} scores for {inputs.Count} responses");
            byName[function.Name] = scores;
            for (int i = 0; i < total.Length; i++) total[i] += weight * scores[i];
        }
        return (total, byName);
    }
}
