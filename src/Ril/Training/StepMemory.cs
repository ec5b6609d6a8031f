using Ril.Models;

namespace Ril.Training;

/// <summary>
/// The memory an RL step of a recipe will need at the least, estimated from the recipe's sizes and the model's before
/// anything they size is allocated (docs/spec/BOUNDS.md "A step's memory"): the weights held, the KV caches of the step's
/// rollouts (sampled all at once), one decoding step's logits over all of them, and one micro-batch's logits at its
/// response slots with their gradient in the update. Each term is a lower bound, so a recipe refused by it cannot have fitted. In bytes, as doubles:
/// huge recipe values must not overflow.
/// </summary>
public sealed record StepMemory(double Weights, double KvCaches, double DecodeLogits, double UpdateLogits)
{
    public double Total => Weights + KvCaches + DecodeLogits + UpdateLogits;

    /// <summary>Q·G rows of (longest prompt + L) positions; <paramref name="weightBytes"/> is what the models already hold.</summary>
    public static StepMemory Estimate(RlConfig rl, ICausalLM model, int longestPrompt, long weightBytes)
    {
        double rows = (double)rl.QuestionsPerStep * rl.GroupSize;                       // docs/spec/BOUNDS.md "A step's memory": R = Q·G
        double positions = (double)longestPrompt + rl.MaxResponseTokens;                  // T = P + L
        double micro = Math.Min(rl.MicroBatchSize, rows);                                 // m = min(micro-batch, R)
        return new StepMemory(weightBytes,
            model.KvCacheBytes(1, 1) * rows * positions,                                  // KV = kv(1, 1)·R·T
            rows * model.VocabSize * sizeof(float),                                       // R·V·4
            2.0 * micro * rl.MaxResponseTokens * model.VocabSize * sizeof(float));        // 2·m·L·V·4: the head reads the response slots only
    }

    /// <summary>Available memory for the process: the GC's view (physical memory, or a container's or a heap hard limit).</summary>
    public static double AvailableBytes() => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    public override string ToString() =>
        $"weights {Gb(Weights)} GB, KV caches {Gb(KvCaches)} GB, decoding logits {Gb(DecodeLogits)} GB, update logits {Gb(UpdateLogits)} GB";

    internal static string Gb(double bytes) => (bytes / 1e9).ToString(bytes < 1e8 ? "F2" : "F1", System.Globalization.CultureInfo.InvariantCulture);
}
