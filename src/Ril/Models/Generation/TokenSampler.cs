using System.Buffers;
using Ril.Tensors;
using TP = System.Numerics.Tensors.TensorPrimitives;

namespace Ril.Models.Generation;

/// <summary>Logits a token cannot be drawn from (NaN, +∞, all −∞).</summary>
public sealed class NonFiniteLogitsException(string message) : InvalidOperationException(message);

/// <summary>Chooses the next token from one row of logits under <see cref="SamplingOptions"/>.</summary>
public static class TokenSampler
{
    /// <summary>
    /// Returns the chosen token. <paramref name="logits"/> is used as scratch (penalised and scaled in place);
    /// <paramref name="seen"/> are the tokens the repetition penalty applies to.
    /// </summary>
    public static int Next(Span<float> logits, SamplingOptions o, IReadOnlyCollection<int> seen, Rng rng)
    {
        CheckFinite(logits);
        if (o.RepetitionPenalty != 1f)
            foreach (var t in seen)   // logit < 0 → logit·p, else logit/p  (Keskar et al., as transformers); kept finite
                logits[t] = Math.Clamp(logits[t] < 0 ? logits[t] * o.RepetitionPenalty : logits[t] / o.RepetitionPenalty, -LargestLogit, LargestLogit);
        if (o.Greedy) return TP.IndexOfMax(logits);
        if (o.TopK <= 0 && o.TopP >= 1f) return DrawInVocabularyOrder(logits, o.Temperature, rng);

        // Softmax of logits / T in double, from the raw logits: no overflow however small T is.
        double temperature = o.Temperature;
        var order = Candidates(logits, o.TopK, (float)(NegligibleLogitGap * temperature));
        int keep = order.Length;
        float max = logits[order[0]];
        var probs = new double[keep];
        double total = 0;
        for (int i = 0; i < keep; i++) total += probs[i] = Math.Exp((logits[order[i]] - (double)max) / temperature);
        // top-p: the smallest prefix whose mass reaches p (the token that crosses p is kept, as transformers)
        int cut = keep;
        if (o.TopP < 1f)
        {
            double acc = 0;
            for (int i = 0; i < keep; i++)
            {
                acc += probs[i] / total;
                if (acc >= o.TopP) { cut = i + 1; break; }
            }
        }
        double mass = 0;
        for (int i = 0; i < cut; i++) mass += probs[i];
        double u = rng.NextDouble() * mass;
        for (int i = 0; i < cut; i++)
        {
            u -= probs[i];
            if (u < 0) return order[i];
        }
        return order[cut - 1];
    }

    /// <summary>
    /// A draw from softmax(logits / T) without top-k or top-p: no candidate needs to be ranked, so the cumulative walk goes
    /// in vocabulary order (the same distribution as the ranked walk, without sorting a 150k-token vocabulary for every
    /// sampled token, which took half of a rollout's time). Tokens more than <see cref="NegligibleLogitGap"/>·T below the
    /// best are left out, as in the ranked path.
    /// </summary>
    static int DrawInVocabularyOrder(ReadOnlySpan<float> logits, double temperature, Rng rng)
    {
        int n = logits.Length;
        float max = TP.Max(logits), floor = max - (float)(NegligibleLogitGap * temperature);
        var buffer = ArrayPool<float>.Shared.Rent(n);
        try
        {
            var probs = buffer.AsSpan(0, n);
            TP.Subtract(logits, max, probs);
            TP.Multiply(probs, (float)(1.0 / temperature), probs);                      // (l − max) / T ≤ 0: exp cannot overflow
            TP.Exp(probs, probs);
            double total = 0;
            for (int i = 0; i < n; i++)
            {
                if (logits[i] < floor) probs[i] = 0f;
                total += probs[i];
            }
            double u = rng.NextDouble() * total;
            int last = 0;
            for (int i = 0; i < n; i++)
            {
                if (probs[i] == 0f) continue;
                last = i;
                u -= probs[i];
                if (u < 0) return i;
            }
            return last;                                                                 // rounding left u just above 0
        }
        finally { ArrayPool<float>.Shared.Return(buffer); }
    }

    /// <summary>Gap below the best scaled logit past which a token is left out: its probability is under e^−40 ≈ 4e−18 of the best.</summary>
    const float NegligibleLogitGap = 40f;

    /// <summary>Penalised logits stay within ±this (a penalty near 0 would otherwise make them infinite).</summary>
    const float LargestLogit = 1e30f;

    /// <summary>A diverged model's NaN or +∞ logits are an error, not a token (−∞ marks a token that may not be chosen).</summary>
    static void CheckFinite(ReadOnlySpan<float> logits)
    {
        // One vectorised pass: the maximum is NaN if any logit is NaN (TensorPrimitives.Max propagates it), else +∞ if
        // any is +∞, and −∞ only if all are.
        float max = TP.Max(logits);
        if (float.IsNaN(max) || float.IsPositiveInfinity(max))
            throw new NonFiniteLogitsException($"the model's logits hold {(float.IsNaN(max) ? "NaN" : "+∞")}: the model has diverged or its weights are broken");
        if (float.IsNegativeInfinity(max)) throw new NonFiniteLogitsException("every logit is −∞: no token may be chosen");
    }

    /// <summary>Token ids in descending order of logit: the top k (k &gt; 0), else every token within <paramref name="gap"/> of the best.</summary>
    static int[] Candidates(ReadOnlySpan<float> logits, int topK, float gap)
    {
        float floor = TP.Max(logits) - gap;
        var ids = new List<int>();
        if (topK > 0 && topK < logits.Length)
        {
            var heap = new PriorityQueue<int, float>(topK + 1);   // min-heap of the best k so far
            for (int i = 0; i < logits.Length; i++)
            {
                if (heap.Count < topK) heap.Enqueue(i, logits[i]);
                else if (logits[i] > logits[heap.Peek()]) heap.EnqueueDequeue(i, logits[i]);
            }
            while (heap.Count > 0) ids.Add(heap.Dequeue());
        }
        else
            for (int i = 0; i < logits.Length; i++) if (logits[i] >= floor) ids.Add(i);
        var arr = ids.ToArray();
        var keys = new float[arr.Length];
        for (int i = 0; i < arr.Length; i++) keys[i] = -logits[arr[i]];
        Array.Sort(keys, arr);
        return arr;
    }
}
