using Ril.Tensors.Distributed;

namespace Ril.Training;

/// <summary>Advantages from rewards (docs/spec/LOSSES.md, docs/spec/MAYE.md).</summary>
public static class Advantages
{
    /// <summary>
    /// Per response, over consecutive groups of <paramref name="groupSize"/>: A_i = R_i − mean_g R, divided by
    /// (std_g R + 1e-4) with the Bessel-corrected std when <paramref name="scaleByStd"/> (docs/spec/LOSSES.md).
    /// </summary>
    public static float[] GroupRelative(ReadOnlySpan<float> rewards, int groupSize, bool scaleByStd)
    {
        if (groupSize < 1 || rewards.Length % groupSize != 0)
            throw new ArgumentException($"GroupRelative: {rewards.Length} rewards do not form groups of {groupSize}");
        var a = new float[rewards.Length];
        for (int g = 0; g < rewards.Length; g += groupSize)
        {
            var group = rewards.Slice(g, groupSize);
            double mean = 0;
            foreach (var r in group) mean += r;
            mean /= groupSize;
            double std = 0;
            if (scaleByStd && groupSize > 1)
            {
                foreach (var r in group) std += (r - mean) * (r - mean);
                std = Math.Sqrt(std / (groupSize - 1));                          // Bessel-corrected, as torch.std
            }
            for (int i = 0; i < groupSize; i++)
                a[g + i] = (float)(scaleByStd ? (group[i] - mean) / (std + 1e-4) : group[i] - mean);
        }
        return a;
    }

    /// <summary>
    /// RIL's <see cref="StudentBaseline.Students"/>: within each group, the advantages of the student's own responses
    /// become R_i − mean(R of the group's student responses); teacher responses keep theirs. The baseline of an
    /// on-policy sample does not change its expected policy gradient, E_{y∼π}[(R − b)∇log π(y)] = E[R ∇log π(y)] for any
    /// b that does not depend on y; it changes the variance. Centred over all 2G (docs/spec/RIL.md), the teachers' high rewards
    /// make b large and every student sample is pushed down on average.
    /// </summary>
    public static void CentreStudentsOnTheirOwnMean(ReadOnlySpan<float> rewards, Span<float> advantages, ReadOnlySpan<bool> isTeacher, int groupSize)
    {
        if (groupSize < 1 || rewards.Length % groupSize != 0 || advantages.Length != rewards.Length || isTeacher.Length != rewards.Length)
            throw new ArgumentException($"CentreStudentsOnTheirOwnMean: {rewards.Length} rewards, {advantages.Length} advantages and {isTeacher.Length} flags in groups of {groupSize}");
        for (int g = 0; g < rewards.Length; g += groupSize)
        {
            double sum = 0;
            int students = 0;
            for (int i = g; i < g + groupSize; i++) if (!isTeacher[i]) { sum += rewards[i]; students++; }
            if (students == 0) continue;
            double mean = sum / students;
            for (int i = g; i < g + groupSize; i++) if (!isTeacher[i]) advantages[i] = (float)(rewards[i] - mean);
        }
    }

    /// <summary>Groups whose rewards are all equal (zero advantage everywhere: no learning signal).</summary>
    public static bool[] ZeroVarianceGroups(ReadOnlySpan<float> rewards, int groupSize)
    {
        var flat = new bool[rewards.Length / groupSize];
        for (int g = 0; g < flat.Length; g++)
        {
            var group = rewards.Slice(g * groupSize, groupSize);
            flat[g] = true;
            foreach (var r in group) if (r != group[0]) { flat[g] = false; break; }
        }
        return flat;
    }

    /// <summary>
    /// MAYE's Reinforce++ advantages, per token [rows, L]: the score sits on each response's last valid token (γ = 1,
    /// so every earlier token's return is the same score), then returns are whitened over all valid tokens of the batch
    /// with the mean shifted back: A = (G − μ)/√(σ² + 1e-8) + μ, σ² Bessel-corrected (docs/spec/MAYE.md). In a data-parallel
    /// run μ and σ² are those of the global batch (pooled over <paramref name="world"/>), unlike MAYE's per-rank whitening.
    /// </summary>
    public static float[] ReinforcePlusPlus(ReadOnlySpan<float> scores, ReadOnlySpan<float> mask, int maxLen, ICommunicator? world = null)
    {
        world ??= SingleProcess.Instance;
        int rows = scores.Length;
        if (mask.Length != rows * maxLen) throw new ArgumentException($"ReinforcePlusPlus: mask of {mask.Length} for {rows}×{maxLen}");
        var returns = new float[rows * maxLen];
        double sum = 0, count = 0;
        for (int i = 0; i < rows; i++)
            for (int t = 0; t < maxLen; t++)
            {
                float m = mask[i * maxLen + t];
                returns[i * maxLen + t] = scores[i] * m;                       // γ = 1: return-to-go equals the final score
                sum += m * scores[i]; count += m;
            }
        var pooled = world.Sum(sum, count);
        (sum, count) = (pooled[0], pooled[1]);
        if (count == 0) return returns;
        double mean = sum / count, var = 0;
        for (int j = 0; j < returns.Length; j++) var += mask[j] * (returns[j] - mean) * (returns[j] - mean);
        var = world.Sum(var)[0];
        var = count > 1 ? var / (count - 1) : 0;
        double rstd = 1.0 / Math.Sqrt(var + 1e-8);
        for (int j = 0; j < returns.Length; j++)
            returns[j] = mask[j] == 0 ? 0 : (float)((returns[j] - mean) * rstd + mean);
        return returns;
    }
}
