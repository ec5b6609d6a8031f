using Ril.Tensors.Distributed;

namespace Ril.Training;

/// <summary>Advantages from rewards (spec/LOSSES.md, spec/MAYE.md).</summary>
public static class Advantages
{
    /// <summary>
    /// Per response, over consecutive groups of <paramref name="groupSize"/>: A_i = R_i − mean_g R, divided by
    /// (std_g R + 1e-4) with the Bessel-corrected std when <paramref name="scaleByStd"/> (spec/LOSSES.md).
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
    /// with the mean shifted back: A = (G − μ)/√(σ² + 1e-8) + μ, σ² Bessel-corrected (spec/MAYE.md). In a data-parallel
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
